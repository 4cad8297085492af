EXTENSION = mq
MODULE_big = mq
OBJS = $(patsubst %.c,%.o,$(wildcard src/*.c))
DATA = $(wildcard sql/mq--*.sql)
PG_CPPFLAGS = -Wall -Werror

# pg_regress: every sql/*.sql that is not an extension script
REGRESS = $(filter-out mq--%,$(basename $(notdir $(wildcard sql/*.sql))))
REGRESS_OPTS = --inputdir=. --load-extension=mq

# isolation specs
ISOLATION = $(basename $(notdir $(wildcard test/isolation/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test/isolation --load-extension=mq

# Perl cluster tests in test/t (run by prove_installcheck)
ifneq ($(wildcard test/t/*.pl),)
TAP_TESTS = 1
endif

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS looks for Perl tests in t/; ours are in test/t.
PROVE_TESTS = test/t/*.pl

.PHONY: installcheck-regress installcheck-isolation installcheck-tap test demo

# The kinds of tests one at a time (installcheck runs all three).
installcheck-regress:
	$(pg_regress_installcheck) $(REGRESS_OPTS) $(REGRESS)

installcheck-isolation:
	$(pg_isolation_regress_installcheck) $(ISOLATION_OPTS) $(ISOLATION)

installcheck-tap:
	$(prove_installcheck)

# The two commands of the README: everything from a fresh Debian machine.
test:
	bash scripts/run.sh test

demo:
	bash scripts/run.sh demo

# every C file includes the shared header
$(OBJS): src/mq.h
# The benchmark: bench/run.sh (MODE=short, a few minutes, or MODE=full).
.PHONY: bench
bench:
	bash bench/run.sh
