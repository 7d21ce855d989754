build-fuzz/obj/csrc/ops/vision.o: csrc/ops/vision.c csrc/ops/vision.h \
  csrc/ops/../core/error.h

csrc/ops/vision.h:

csrc/ops/../core/error.h:
