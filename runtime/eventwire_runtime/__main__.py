import sys

from eventwire_runtime.cli import main

sys.exit(main())
