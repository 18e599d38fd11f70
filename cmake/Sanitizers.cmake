# CUTOVER_SANITIZE builds everything with ASan and UBSan; any finding aborts the test that hit it.
# The asan preset compiles at -O1 -g1 (line tables for the reports' stack traces): about half
# the compile time of -O2 -g, which is most of what the test run costs.
if(CUTOVER_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=address,undefined)
  # GCC 12's flow analysis under the sanitizers reports maybe-uninitialized inside Boost.Beast's
  # and libstdc++'s headers (boost::optional, std::regex); kept visible, not fatal.
  add_compile_options(-Wno-error=maybe-uninitialized)
endif()
