#pragma once

#include "cutover/common/result.h"
#include "cutover/pipeline/deploy.h"

namespace cutover {

// deploy()'s stages (pipeline.cc lists them) for a caller that keeps the record itself (a build
// job): fills `report`, whose deploy_id the flip records, as far as the deploy gets.
[[nodiscard]] Result<void> runPipeline(const PipelineContext& context, const DeployOptions& options,
                                       DeployReport& report);

}  // namespace cutover
