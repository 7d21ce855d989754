build-fuzz/obj/csrc/lua/l_nn.o: csrc/lua/l_nn.c csrc/lua/../ops/conv2d.h \
  csrc/lua/../ops/../core/tensor.h csrc/lua/../ops/../core/ctx.h \
  csrc/lua/../ops/../core/rng.h csrc/lua/../ops/../core/dtype.h \
  csrc/lua/../ops/../core/error.h csrc/lua/../ops/elementwise.h \
  csrc/lua/../ops/linear.h csrc/lua/../ops/norm.h \
  csrc/lua/../ops/optim.h csrc/lua/../ops/pool.h \
  csrc/lua/../ops/softmax.h csrc/lua/binding.h \
  /usr/include/lua5.4/lauxlib.h /usr/include/lua5.4/luaconf.h \
  /usr/include/lua5.4/lua.h csrc/lua/../core/ctx.h \
  csrc/lua/../core/tensor.h

csrc/lua/../ops/conv2d.h:

csrc/lua/../ops/../core/tensor.h:

csrc/lua/../ops/../core/ctx.h:

csrc/lua/../ops/../core/rng.h:

csrc/lua/../ops/../core/dtype.h:

csrc/lua/../ops/../core/error.h:

csrc/lua/../ops/elementwise.h:

csrc/lua/../ops/linear.h:

csrc/lua/../ops/norm.h:

csrc/lua/../ops/optim.h:

csrc/lua/../ops/pool.h:

csrc/lua/../ops/softmax.h:

csrc/lua/binding.h:

/usr/include/lua5.4/lauxlib.h:

/usr/include/lua5.4/luaconf.h:

/usr/include/lua5.4/lua.h:

csrc/lua/../core/ctx.h:

csrc/lua/../core/tensor.h:
