# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean fuzz fuzz-short

$(STAMP): pyproject.toml setup.py $(wildcard src/transitwatch/*/*.c)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	# An editable install compiles nothing: without this, a shell with PYTHONDONTWRITEBYTECODE set
	# compiles every module on every command (~0.15 s of each country question).
	$(BIN)/python -m compileall -q src
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m transitwatch.scenarios.demo

test: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest -q tests

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	$(BIN)/python bench/decode.py
	$(BIN)/python bench/api.py
	$(BIN)/python bench/facade.py

# Fuzzing the C record parser (libFuzzer + AddressSanitizer + UndefinedBehaviorSanitizer; needs clang).
# `make fuzz` builds fuzz/build/fuzz_mrt and seeds fuzz/build/seeds from every real file in
# ../shared/data; `make fuzz-short` runs it for FUZZ_SECONDS (CI); see docs/data.md.
SHARED ?= ../shared/data
FUZZ_SECONDS ?= 20
FUZZ_DIR := fuzz/build
PYINC = $(shell $(BIN)/python -c "import sysconfig as s; print(s.get_paths()['include'])")
PYLIBDIR = $(shell $(BIN)/python -c "import sysconfig as s; print(s.get_config_var('LIBDIR'))")
PYVER = $(shell $(BIN)/python -c "import sysconfig as s; print(s.get_config_var('LDVERSION'))")

$(FUZZ_DIR)/fuzz_mrt: fuzz/fuzz_mrt.c src/transitwatch/sources/_mrt.c $(STAMP)
	mkdir -p $(FUZZ_DIR)
	clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	    -I$(PYINC) fuzz/fuzz_mrt.c -o $@ -L$(PYLIBDIR) -Wl,-rpath,$(PYLIBDIR) -lpython$(PYVER) -lm

$(FUZZ_DIR)/seeds/.done: fuzz/seeds.py $(STAMP)
	$(BIN)/python fuzz/seeds.py $(SHARED) $(FUZZ_DIR)/seeds
	cp fuzz/regressions/* $(FUZZ_DIR)/seeds/ 2>/dev/null || true
	touch $@

fuzz: $(FUZZ_DIR)/fuzz_mrt $(FUZZ_DIR)/seeds/.done

# A short run: new inputs go to $(FUZZ_DIR)/corpus, a crash to $(FUZZ_DIR)/crash-* (exit non-zero).
fuzz-short: fuzz
	mkdir -p $(FUZZ_DIR)/corpus
	ASAN_OPTIONS=detect_leaks=0 $(FUZZ_DIR)/fuzz_mrt -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 \
	    -timeout=10 -artifact_prefix=$(FUZZ_DIR)/ -print_final_stats=1 $(FUZZ_DIR)/corpus $(FUZZ_DIR)/seeds

clean:
	rm -rf $(VENV) build src/*.egg-info src/transitwatch/*/*.so $(FUZZ_DIR)
