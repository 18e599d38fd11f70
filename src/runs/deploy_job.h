#pragma once

#include <filesystem>
#include <stop_token>

#include "cutover/config/config.h"
#include "cutover/pipeline/deploy.h"
#include "runs/history.h"

namespace cutover {

// Runs one claimed request to its end, recording every stage in the history and every line in
// its log: fetch and build (or the uploaded archive), then store and activate through deploy().
// Whatever happens, the record ends succeeded or failed with the reason, the workspace is gone
// and the live site is untouched unless the deploy succeeded. `stop` kills a running build.
void runDeployJob(DeployRecord record, const Config& config, const PipelineContext& context,
                  const std::filesystem::path& data_dir, std::stop_token stop);

}  // namespace cutover
