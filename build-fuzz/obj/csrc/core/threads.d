build-fuzz/obj/csrc/core/threads.o: csrc/core/threads.c \
  csrc/core/threads.h \
  /usr/include/x86_64-linux-gnu/openblas-openmp/cblas.h \
  /usr/include/x86_64-linux-gnu/openblas-openmp/openblas_config.h

csrc/core/threads.h:

/usr/include/x86_64-linux-gnu/openblas-openmp/cblas.h:

/usr/include/x86_64-linux-gnu/openblas-openmp/openblas_config.h:
