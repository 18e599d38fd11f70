#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cutover/common/result.h"

namespace cutover::s3xml {

// The <Error> document S3 sends with a failed request (and, for CompleteMultipartUpload, even
// with a 200).
struct ErrorBody {
  std::string code;     // "NoSuchKey", "SignatureDoesNotMatch", ...
  std::string message;  // often empty on radosgw
};
[[nodiscard]] std::optional<ErrorBody> parseError(std::string_view xml);

// One page of ListObjectsV2.
struct ListPage {
  std::vector<std::string> keys;
  std::vector<std::string> common_prefixes;  // with a delimiter: the "folders"
  bool truncated = false;
  std::string next_token;  // NextContinuationToken when truncated
};
[[nodiscard]] Result<ListPage> parseListObjectsV2(std::string_view xml);

// The UploadId of an InitiateMultipartUploadResult.
[[nodiscard]] Result<std::string> parseUploadId(std::string_view xml);

// One page of ListMultipartUploads.
struct UploadsPage {
  std::vector<std::pair<std::string, std::string>> uploads;  // key, upload id
  bool truncated = false;
  std::string next_key_marker;
  std::string next_upload_id_marker;
};
[[nodiscard]] Result<UploadsPage> parseListMultipartUploads(std::string_view xml);

// The body of CompleteMultipartUpload for parts 1..N with these ETags.
[[nodiscard]] std::string completeMultipartBody(const std::vector<std::string>& etags);

}  // namespace cutover::s3xml
