# CUTOVER_SANITIZE builds everything with ASan and UBSan; any finding aborts the test that hit it.
if(CUTOVER_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=address,undefined)
endif()
