"""Test support shared by every suite: free ports, managed server processes, polling helpers."""
