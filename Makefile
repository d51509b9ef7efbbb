# The two quickstart targets (`make run`, `make test`) set up everything they need first.
VENV := .venv/bin
UV ?= uv

.PHONY: run test setup services lint typecheck pytest bench lock clean

run: setup
	$(VENV)/eventwire crds > build-crds.yaml
	$(VENV)/eventwire validate examples/
	$(VENV)/eventwire render --stack dev --out build/dev
	@echo "CRDs written to build-crds.yaml; every example validates; the dev stack is rendered in build/dev."

test: setup services lint typecheck pytest

setup:
	scripts/setup-python.sh

services:
	scripts/setup-services.sh

lint:
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .

typecheck:
	$(VENV)/mypy components/eventwire runtime/eventwire_runtime spec/eventwire_spec
	# The Pulumi programs, one at a time (both are __main__): they compose the components as users do.
	$(VENV)/mypy infra/__main__.py
	$(VENV)/mypy tests/pulumi_program/__main__.py
	$(VENV)/mypy examples/broker-mesh/__main__.py

pytest:
	$(VENV)/pytest

bench: setup services
	$(VENV)/python -m benchmarks

# Regenerate the lock files after changing a dependency range (needs `pip install uv`).
lock:
	$(UV) pip compile --python-version 3.11 requirements/dev.in -o requirements/dev.lock
	$(UV) pip compile --python-version 3.11 --python-platform x86_64-manylinux_2_28 --generate-hashes --no-emit-package eventwire-spec --no-emit-package eventwire-runtime runtime/requirements.in -o runtime/requirements.lock

clean:
	rm -rf .venv build build-crds.yaml .mypy_cache .pytest_cache .ruff_cache
