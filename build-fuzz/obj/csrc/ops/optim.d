build-fuzz/obj/csrc/ops/optim.o: csrc/ops/optim.c csrc/ops/optim.h \
  csrc/ops/../core/threads.h

csrc/ops/optim.h:

csrc/ops/../core/threads.h:
