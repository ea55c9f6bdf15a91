# The two commands that matter: `make run` (the shop on an embedded AWS) and `make test`.
# Both set everything up on a fresh machine: the virtualenv and pinned dependencies included.

# Python 3.13, the services' Lambda runtime: the first of these that really runs 3.13 (a pyenv shim
# on PATH answers only when that version is selected). Otherwise set PYTHON=/path/to/python3.13.
PYTHON ?= $(shell for p in python3.13 $(HOME)/.pyenv/versions/3.13*/bin/python3.13 /usr/local/bin/python3.13 /usr/bin/python3.13; do \
	"$$p" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' >/dev/null 2>&1 && { command -v "$$p"; break; }; done)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SERVICES := catalog vod orders fulfillment notify
STAGE ?= dev
# Extra flags for deploy/stacks.py, e.g. DEPLOY_FLAGS=--no-execute to review the change set first.
DEPLOY_FLAGS ?=

.PHONY: web browser browser-tests readme-screenshots run test lock imports lint typecheck schemas contracts-check openapi openapi-check contract-tests unit service-tests e2e bench package deploy deploy-all deploy-platform deploy-web deploy-status destroy destroy-web clean help

help:
	@echo "make run            the whole shop on an embedded AWS (Ctrl-C stops it)"
	@echo "make test           lint, type checks, schema check, every test suite"
	@echo "make schemas        regenerate contracts/schemas (refuses a breaking change)"
	@echo "make contracts-check  the compatibility gate CI runs"
	@echo "make openapi        regenerate services/*/openapi.json from the API models"
	@echo "make openapi-check  fail if a committed services/*/openapi.json is stale (make test runs it)"
	@echo "make contract-tests the consumer-driven contract tests alone (make test runs them too)"
	@echo "make bench          throughput, latency, AWS requests and cost per order on an embedded shop (minutes; not in make test)"
	@echo "make package        chalice package + cfn-lint + bare-venv import check for every service"
	@echo "make deploy SERVICE=orders STAGE=dev   package and deploy one service to the AWS account in the environment"
	@echo "make deploy-all STAGE=dev              every service, subscribers before the entry points"
	@echo "make deploy-platform STAGE=dev         the stage's bus, archive and artifacts bucket (made by the first deploy)"
	@echo "make deploy-web STAGE=dev              build web/, deploy the storefront's bucket + CloudFront, upload (after deploy-all)"
	@echo "make deploy-status STAGE=dev           every stack of the stage"
	@echo "make destroy SERVICE=orders STAGE=dev  delete one service's stack (its table is kept)"
	@echo "make destroy-web STAGE=dev             delete the storefront's stack and its files"

# requirements/*.in pin the direct dependencies, once each; the .txt locks (every transitive package,
# with hashes) are what gets installed. `make lock` re-resolves them after an .in file changes.
$(STAMP): requirements/dev.txt requirements/lambda.txt requirements/orders.txt eventing/pyproject.toml contracts/pyproject.toml devstack/pyproject.toml infra/pyproject.toml ops/pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null || { \
		echo "make: Python 3.13 is needed (found: '$(PYTHON)'). Install it (e.g. 'pyenv install 3.13' or your" >&2; \
		echo "      distribution's python3.13 with venv), or point PYTHON=/path/to/python3.13 at it." >&2; exit 2; }
	@test -x $(PY) && $(PY) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' || { rm -rf $(VENV); $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install --quiet pip==26.2.1  # pinned: chalice 1.34 requires pip<26.3
	$(PY) -m pip install --quiet --require-hashes -r requirements/dev.txt
	# The shared packages, editable; their dependencies are all in the lock above.
	$(PY) -m pip install --quiet --no-deps -e ./eventing -e ./contracts -e ./devstack -e ./infra -e ./ops
	$(PY) -m pip check
	touch $(STAMP)

LOCK := $(VENV)/bin/pip-compile --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links --quiet
# Every requirements/<name>.in into its <name>.txt (a service's requirements.txt includes one of them).
lock: $(STAMP)
	cd requirements && for spec in *.in; do ../$(LOCK) -o "$${spec%.in}.txt" "$$spec" || exit 1; done

venv: $(STAMP)

# The storefront and the staff console (web/): node_modules exactly as web/package-lock.json says, then
# the static build in web/dist (tsc checks the TypeScript first), which the embedded stack's web edge serves.
WEB_STAMP := web/node_modules/.installed
WEB_SOURCES := $(shell find web/src web/index.html web/console/index.html web/vite.config.ts web/tsconfig.json -type f 2>/dev/null)
$(WEB_STAMP): web/package.json web/package-lock.json
	@command -v npm >/dev/null || { echo "make: Node.js 20+ with npm is needed to build web/ (e.g. apt-get install nodejs npm)." >&2; exit 2; }
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $(WEB_STAMP)

web/dist/index.html: $(WEB_STAMP) $(WEB_SOURCES)
	cd web && npm run build --silent

web: web/dist/index.html

# Debian's chromium, which the browser tests drive through Playwright (no browser is downloaded at test time).
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# With a Japanese font (fonts-noto-cjk), so the storefront's Japanese pages render as text, not boxes.
APT_INSTALL := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends
browser:
	@test -x $(CHROMIUM) && fc-list :lang=ja 2>/dev/null | grep -q . || { \
		echo "installing Debian's chromium and a Japanese font (the browser tests drive it)"; \
		$(APT_INSTALL) chromium fonts-noto-cjk >/dev/null || \
		{ $(SUDO) apt-get update -q >/dev/null && $(APT_INSTALL) chromium fonts-noto-cjk >/dev/null; }; }
	@$(CHROMIUM) --version 2>/dev/null

run: $(STAMP) web
	$(PY) -m shop_devstack

# Each tier in turn, timed; the summary says where the run's time went (also when a tier fails).
TEST_TIERS := lint typecheck contracts-check openapi-check unit service-tests e2e browser-tests
test: $(STAMP)
	@summary=""; status=0; \
	for tier in $(TEST_TIERS); do \
		start=$$(date +%s); $(MAKE) --no-print-directory $$tier || status=$$?; \
		summary="$$summary  $$tier $$(( $$(date +%s) - start ))s"; \
		if [ $$status -ne 0 ]; then echo "make test: $$tier failed"; break; fi; \
	done; \
	echo "make test, time per tier:$$summary"; exit $$status

lint: $(STAMP) imports
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The architecture rules as import-linter contracts: the shared packages' layers (.importlinter), then
# each service's (services/importlinter.ini; a service without a domain module skips that contract).
imports: $(STAMP)
	$(VENV)/bin/lint-imports --no-cache --no-logo
	@for s in $(SERVICES); do \
		contracts=$$(test -f services/$$s/chalicelib/domain.py || echo "--contract framework-stays-in-app --contract deployable-alone"); \
		echo "== services/$$s"; (cd services/$$s && ../../$(VENV)/bin/lint-imports --config ../importlinter.ini --no-cache --no-logo $$contracts) || exit 1; \
	done

typecheck: $(STAMP)
	$(VENV)/bin/mypy eventing/shop_eventing contracts/shop_contracts devstack/shop_devstack infra/shop_infra ops/shop_ops deploy/package.py deploy/policies.py deploy/templates.py deploy/stacks.py deploy/gateway_responses.py deploy/storefront.py deploy/web.py bench
	@for s in $(SERVICES); do (cd services/$$s && ../../$(VENV)/bin/mypy --config-file ../../pyproject.toml app.py chalicelib) || exit 1; done

schemas: $(STAMP)
	$(PY) -m shop_contracts.schemas
	$(PY) -m shop_contracts.event_catalog

# The compatibility gate: committed schemas are current, and every (event, major) accepts exactly
# what all its published revisions accepted (only optional fields may be added).
contracts-check: $(STAMP)
	$(PY) -m shop_contracts.schemas --check
	$(PY) -m shop_contracts.event_catalog --check

# Each service's OpenAPI 3.1 document, generated from the pydantic models its views validate with
# (shop_eventing.openapi); one process per service, as Chalice apps cannot share one.
openapi: $(STAMP)
	@for s in $(SERVICES); do $(PY) -m shop_eventing.openapi services/$$s || exit 1; done

openapi-check: $(STAMP)
	@for s in $(SERVICES); do $(PY) -m shop_eventing.openapi services/$$s --check || exit 1; done

# Consumer-driven contracts alone: the declarations, then each producer's and each consumer's side.
contract-tests: $(STAMP)
	$(PY) -m pytest -q contracts/tests/test_consumer_contracts.py
	@for s in $(SERVICES); do \
		tests=$$(cd services/$$s && ls tests/test_contracts_as_*.py 2>/dev/null); \
		if [ -n "$$tests" ]; then echo "== services/$$s"; (cd services/$$s && ../../$(PY) -m pytest -q $$tests) || exit 1; fi; \
	done

# Shared packages and the embedded stack's parts, against an in-process moto server (web: the run
# command's test opens the storefront it serves).
unit: $(STAMP) web
	$(PY) -m pytest -q contracts/tests eventing/tests infra/tests devstack/tests deploy/tests bench/tests ops/tests -m "not packaging"

# Each service in its own pytest process: every Chalice app has a top-level `app` and `chalicelib`.
service-tests: $(STAMP)
	@for s in $(SERVICES); do \
		if [ -d services/$$s/tests ] && ls services/$$s/tests/test_*.py >/dev/null 2>&1; then \
			echo "== services/$$s"; (cd services/$$s && ../../$(PY) -m pytest -q tests) || exit 1; \
		fi; \
	done

# Through HTTP and the real event flow, against the embedded shop the tests start themselves.
e2e: $(STAMP) web
	$(PY) -m pytest -q tests --ignore=tests/browser

# The storefront and console in a real browser (Debian's chromium, headless) against an embedded shop;
# screenshots land in build/browser-artifacts/.
browser-tests: $(STAMP) web browser
	$(PY) -m pytest -q tests/browser

# The README's pictures (docs/images/), taken again by the browser tests that show them.
readme-screenshots: $(STAMP) web browser
	SHOP_README_SCREENSHOTS=1 $(PY) -m pytest -q tests/browser -k "buys_a_parcel or watches_her_rental or pin_a_product"

# The benchmark (docs/performance.md): its own embedded shop, a few minutes by default, results in
# bench/results.json and a table on stdout. Not part of `make test`: its figures are not pass/fail.
# Longer or other runs: make bench BENCH_FLAGS="--seconds 60 --bursts 10" (python -m bench --help).
BENCH_FLAGS ?=
bench: $(STAMP)
	$(PY) -m bench $(BENCH_FLAGS)

# Deployability, proved without an AWS account: every service is packaged with `chalice package`
# and the topology's merge template (shared packages vendored in), cfn-lint passes on every template,
# and each deployment.zip imports its app in a bare virtualenv holding only boto3 (Lambda's runtime).
package: $(STAMP)
	$(PY) deploy/package.py --out build/
	$(PY) -m pytest -q deploy/tests -m packaging

# Deploying to AWS (docs/deploy.md): the account, region and credentials are boto3's usual ones.
deploy: $(STAMP)
	@test -n "$(SERVICE)" || { echo "usage: make deploy SERVICE=<$(SERVICES)> STAGE=<stage>" >&2; exit 2; }
	$(PY) deploy/stacks.py service $(SERVICE) --stage $(STAGE) $(DEPLOY_FLAGS)

# Pure subscribers first, catalog before orders: an order placed right after finds every rule. Events
# published before their subscriber's stack exists reach no queue (docs/deploy.md, replay).
DEPLOY_ORDER := notify fulfillment catalog orders vod
deploy-all: $(STAMP)
	@for s in $(DEPLOY_ORDER); do $(PY) deploy/stacks.py service $$s --stage $(STAGE) $(DEPLOY_FLAGS) || exit 1; done

deploy-platform: $(STAMP)
	$(PY) deploy/stacks.py platform --stage $(STAGE) $(DEPLOY_FLAGS)

# The storefront and staff console (web/, built with npm from its lock) behind one CloudFront distribution
# that also forwards /api/<service>/* to each service: after deploy-all. Never part of `make test`.
deploy-web: $(STAMP)
	$(PY) deploy/web.py --stage $(STAGE) $(DEPLOY_FLAGS)

destroy-web: $(STAMP)
	$(PY) deploy/web.py --stage $(STAGE) --destroy

deploy-status: $(STAMP)
	$(PY) deploy/stacks.py status --stage $(STAGE)

destroy: $(STAMP)
	@test -n "$(SERVICE)" || { echo "usage: make destroy SERVICE=<$(SERVICES)> STAGE=<stage>" >&2; exit 2; }
	$(PY) deploy/stacks.py destroy $(SERVICE) --stage $(STAGE) $(DEPLOY_FLAGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
