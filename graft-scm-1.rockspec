-- LuaRocks build of graft from a checkout: luarocks --lua-version 5.4 make
-- (Debian's luarocks defaults to Lua 5.1: the --lua-version flag is needed.)
rockspec_format = "3.0"
package = "graft"
version = "scm-1"
source = {
  -- `luarocks make` builds the checkout at hand; the release rockspec pins a tag.
  url = "git+https://github.com/graft-lua/graft.git",
}
description = {
  summary = "Transfer learning for Lua 5.4 on a C core",
  detailed = [[
    Load pretrained weights (PyTorch, timm, Hugging Face safetensors), freeze, extract
    features, fine-tune and save, in a few lines of Lua. Tensors and kernels run in C on
    OpenBLAS.
  ]],
  license = "MIT",
  labels = {"machine-learning", "deep-learning", "tensor"},
}
dependencies = {
  "lua >= 5.4, < 5.5",
}
external_dependencies = {
  -- Checked by library: Debian's luarocks searches multiarch directories for libraries
  -- but not for headers (cblas.h is in /usr/include/x86_64-linux-gnu/). The Makefile
  -- then links Debian's OpenMP build of OpenBLAS by its path.
  OPENBLAS = {
    library = "openblas",
  },
  CJSON = {
    header = "cjson/cJSON.h",
    library = "cjson",
  },
  PNG = {
    header = "png.h",
    library = "png",
  },
  JPEG = {
    header = "jpeglib.h",
    library = "jpeg",
  },
  Z = {
    header = "zlib.h",
    library = "z",
  },
}
build = {
  type = "make",
  build_target = "all",
  build_variables = {
    CFLAGS = "$(CFLAGS)",
    LUA_INC = "$(LUA_INCDIR)",
  },
  install_variables = {
    PREFIX = "$(PREFIX)",
    LUA_LMODDIR = "$(LUADIR)",
    LUA_CMODDIR = "$(LIBDIR)",
    BINDIR = "$(BINDIR)",
  },
}
