build-fuzz/obj/csrc/lua/init.o: csrc/lua/init.c \
  csrc/lua/../core/threads.h csrc/lua/binding.h \
  /usr/include/lua5.4/lauxlib.h /usr/include/lua5.4/luaconf.h \
  /usr/include/lua5.4/lua.h csrc/lua/../core/ctx.h \
  csrc/lua/../core/rng.h csrc/lua/../core/tensor.h \
  csrc/lua/../core/dtype.h csrc/lua/../core/error.h csrc/lua/graft.h

csrc/lua/../core/threads.h:

csrc/lua/binding.h:

/usr/include/lua5.4/lauxlib.h:

/usr/include/lua5.4/luaconf.h:

/usr/include/lua5.4/lua.h:

csrc/lua/../core/ctx.h:

csrc/lua/../core/rng.h:

csrc/lua/../core/tensor.h:

csrc/lua/../core/dtype.h:

csrc/lua/../core/error.h:

csrc/lua/graft.h:
