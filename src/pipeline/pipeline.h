#pragma once

#include "cutover/common/result.h"
#include "cutover/pipeline/deploy.h"

namespace cutover {

// Runs a source on this machine (options.source) through the pipeline's stages, as pipeline.cc
// lists them, filling `report` (whose deploy_id the flip records) as far as it gets; what the
// caller records of it is its own (see Recorder). The stages of deploy(), for a caller that keeps
// the deploy's record itself: a build job deploying its output.
[[nodiscard]] Result<void> runPipeline(const PipelineContext& context, const DeployOptions& options,
                                       DeployReport& report);

}  // namespace cutover
