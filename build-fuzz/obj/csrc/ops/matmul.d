build-fuzz/obj/csrc/ops/matmul.o: csrc/ops/matmul.c csrc/ops/matmul.h \
  csrc/ops/../core/tensor.h csrc/ops/../core/ctx.h \
  csrc/ops/../core/rng.h csrc/ops/../core/dtype.h \
  csrc/ops/../core/error.h \
  /usr/include/x86_64-linux-gnu/openblas-openmp/cblas.h \
  /usr/include/x86_64-linux-gnu/openblas-openmp/openblas_config.h \
  csrc/ops/../core/threads.h csrc/ops/copy.h

csrc/ops/matmul.h:

csrc/ops/../core/tensor.h:

csrc/ops/../core/ctx.h:

csrc/ops/../core/rng.h:

csrc/ops/../core/dtype.h:

csrc/ops/../core/error.h:

/usr/include/x86_64-linux-gnu/openblas-openmp/cblas.h:

/usr/include/x86_64-linux-gnu/openblas-openmp/openblas_config.h:

csrc/ops/../core/threads.h:

csrc/ops/copy.h:
