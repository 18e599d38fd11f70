#include "store/s3/s3_xml.h"

#include <fmt/format.h>

#include <pugixml.hpp>

namespace cutover::s3xml {
namespace {

Result<pugi::xml_node> load(pugi::xml_document& doc, std::string_view xml, const char* root,
                            std::string_view what) {
  auto parsed = doc.load_buffer(xml.data(), xml.size());
  if (!parsed) {
    return fail(Errc::io, fmt::format("{}: the service answered with malformed XML ({})", what,
                                      parsed.description()));
  }
  pugi::xml_node node = doc.child(root);
  if (!node) {
    return fail(Errc::io, fmt::format("{}: the service answered without <{}>", what, root));
  }
  return node;
}

std::string text(const pugi::xml_node& node, const char* child) {
  return node.child(child).text().as_string();
}

std::string escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace

std::optional<ErrorBody> parseError(std::string_view xml) {
  pugi::xml_document doc;
  if (xml.empty() || !doc.load_buffer(xml.data(), xml.size())) return std::nullopt;
  pugi::xml_node error = doc.child("Error");
  if (!error) return std::nullopt;
  return ErrorBody{text(error, "Code"), text(error, "Message")};
}

Result<ListPage> parseListObjectsV2(std::string_view xml) {
  pugi::xml_document doc;
  auto root = load(doc, xml, "ListBucketResult", "list objects");
  if (!root) return tl::unexpected(root.error());
  ListPage page;
  for (auto contents : root->children("Contents")) page.keys.push_back(text(contents, "Key"));
  for (auto prefix : root->children("CommonPrefixes")) {
    page.common_prefixes.push_back(text(prefix, "Prefix"));
  }
  page.truncated = root->child("IsTruncated").text().as_bool();
  page.next_token = text(*root, "NextContinuationToken");
  if (page.truncated && page.next_token.empty()) {
    return fail(Errc::io, "list objects: the service said the list goes on but gave no token");
  }
  return page;
}

Result<std::string> parseUploadId(std::string_view xml) {
  pugi::xml_document doc;
  auto root = load(doc, xml, "InitiateMultipartUploadResult", "start a multipart upload");
  if (!root) return tl::unexpected(root.error());
  std::string id = text(*root, "UploadId");
  if (id.empty()) return fail(Errc::io, "start a multipart upload: the service gave no UploadId");
  return id;
}

Result<UploadsPage> parseListMultipartUploads(std::string_view xml) {
  pugi::xml_document doc;
  auto root = load(doc, xml, "ListMultipartUploadsResult", "list multipart uploads");
  if (!root) return tl::unexpected(root.error());
  UploadsPage page;
  for (auto upload : root->children("Upload")) {
    page.uploads.emplace_back(text(upload, "Key"), text(upload, "UploadId"));
  }
  page.truncated = root->child("IsTruncated").text().as_bool();
  page.next_key_marker = text(*root, "NextKeyMarker");
  page.next_upload_id_marker = text(*root, "NextUploadIdMarker");
  return page;
}

std::string completeMultipartBody(const std::vector<std::string>& etags) {
  std::string out = "<CompleteMultipartUpload>";
  for (std::size_t i = 0; i < etags.size(); ++i) {
    out += fmt::format("<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>", i + 1,
                       escape(etags[i]));
  }
  out += "</CompleteMultipartUpload>";
  return out;
}

}  // namespace cutover::s3xml
