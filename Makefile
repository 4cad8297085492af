EXTENSION = mq
MODULE_big = mq
OBJS = $(patsubst %.c,%.o,$(wildcard src/*.c))
# The install script of the current version is built from the first
# release's script and the update scripts after it (see scripts/install-script.sh), so
# that a fresh install and an updated database run the same SQL.
MQ_VERSION = $(shell sed -n "s/^default_version = '\\(.*\\)'/\\1/p" mq.control)
MQ_INSTALL = sql/mq--$(MQ_VERSION).sql
DATA = $(filter-out $(MQ_INSTALL),$(wildcard sql/mq--*.sql))
DATA_built = $(MQ_INSTALL)
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

$(MQ_INSTALL): mq.control scripts/install-script.sh $(filter-out $(MQ_INSTALL),$(wildcard sql/mq--*.sql))
	bash scripts/install-script.sh $(MQ_VERSION) > $@.tmp && mv $@.tmp $@

# every C file includes the shared header
$(OBJS): src/mq.h
src/stream.o src/stream_order.o src/topic.o: src/stream.h
src/direct.o src/send.o src/ack.o: src/direct.h
# The benchmark: bench/run.sh (MODE=short, a few minutes, or MODE=full).
.PHONY: bench
bench:
	bash bench/run.sh
