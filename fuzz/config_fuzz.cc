// cutover.toml, as an operator (or a tool writing it) leaves it: parsed into the config.
#include "cutover/common/names.h"
#include "cutover/config/config.h"
#include "fuzz_support.h"

using cutover::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto config = cutover::parseConfig(cutover::fuzz::text(data, size), "/srv/cutover/cutover.toml");
  if (!config) {
    check(config.error().message.find("cutover.toml") != std::string::npos,
          "an error names the file");
    return 0;
  }
  for (std::size_t i = 0; i < config->sites.size(); ++i) {
    const auto& site = config->sites[i];
    check(cutover::validateSiteName(site.name).has_value(), "every site has a valid name");
    check(config->site(site.name) == &site, "a site is found by its name");
    if (i > 0) check(config->sites[i - 1].name < site.name, "sites are sorted, without repeats");
    check(!site.builds() || !site.build.empty(), "a site with a repo has a build command");
  }
  return 0;
}
