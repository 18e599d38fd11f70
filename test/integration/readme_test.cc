// The README's examples, as written: every cutover.toml block loads with the real config loader,
// every `cutover` command line in a shell block is accepted by the real binary's parser, and the
// example config builds a real Vite project with npm when node and npm are installed.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <thread>

#include "cutover/config/config.h"
#include "support/git_fixture.h"
#include "support/http_client.h"
#include "support/process.h"
#include "support/temp_dir.h"

namespace cutover {
namespace {

struct Block {
  std::string language;
  std::string text;
  int line = 0;  // where the fence opens, for messages
};

std::vector<Block> readmeBlocks() {
  std::ifstream in(std::string(CUTOVER_SOURCE_DIR) + "/README.md");
  std::vector<Block> blocks;
  std::string line;
  std::optional<Block> open;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.starts_with("```")) {
      if (open) {
        blocks.push_back(*open);
        open.reset();
      } else {
        open = Block{line.substr(3), "", n};
      }
    } else if (open) {
      open->text += line + "\n";
    }
  }
  return blocks;
}

// A shell line split into words: '...' and "..." quote, a # after a space starts a comment.
std::vector<std::string> shellWords(const std::string& line) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quote != 0) {
      if (c == quote) {
        quote = 0;
      } else {
        word += c;
      }
    } else if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
    } else if (c == '#' && !in_word) {
      break;
    } else if (c == ' ' || c == '\t') {
      if (in_word) words.push_back(word);
      word.clear();
      in_word = false;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (in_word) words.push_back(word);
  return words;
}

TEST(ReadmeTest, EveryConfigExampleLoads) {
  int checked = 0;
  for (const auto& block : readmeBlocks()) {
    if (block.language != "toml") continue;
    auto config = parseConfig(block.text, "README.md:" + std::to_string(block.line));
    EXPECT_TRUE(config) << config.error().message;
    ++checked;
  }
  EXPECT_GE(checked, 1);
}

TEST(ReadmeTest, EveryCommandExampleIsAcceptedByTheCommandLine) {
  int checked = 0;
  for (const auto& block : readmeBlocks()) {
    if (block.language != "sh") continue;
    std::istringstream lines(block.text);
    std::string line;
    while (std::getline(lines, line)) {
      auto words = shellWords(line);
      // Variables set for the one command (NAME=value cutover ...) are the shell's business.
      while (!words.empty() && words.front().find('=') != std::string::npos) {
        words.erase(words.begin());
      }
      if (words.empty() || words.front() != "cutover") continue;
      words.erase(words.begin());
      for (auto& w : words) {
        // Placeholders: <deploy-id>, <version>; optional parts: [--json].
        if (w.starts_with("<") && w.ends_with(">")) w = "d-placeholder";
        if (w.starts_with("[") && w.ends_with("]")) w = w.substr(1, w.size() - 2);
      }
      auto r = testing::runCutover(words, {{}, {{"CUTOVER_PARSE_ONLY", "1"}}});
      EXPECT_EQ(r.exit_code, 0) << "README.md:" << block.line << ": " << line << "\n" << r.err;
      ++checked;
    }
  }
  EXPECT_GE(checked, 20);
  // The check itself tells a bad command line from a good one.
  auto bad =
      testing::runCutover({"deploy", "--no-such-option"}, {{}, {{"CUTOVER_PARSE_ONLY", "1"}}});
  EXPECT_EQ(bad.exit_code, 2);
}

// The README's first block of commands ("Using it"), run in order as written, from a folder that
// holds ./public, ./public-v2 and site.zip: no --data-dir, so ./cutover-data. Only what cannot
// run as written changes: `serve` listens on a free port in the background, and each <version>
// becomes a real one (activate: the second deploy; versions delete: the staged one; versions
// preview: the first). The site must answer as each comment says.
TEST(ReadmeTest, TheFirstCommandsRunAsWrittenAndTheSiteAnswersAsTheySay) {
  std::string text;
  for (const auto& block : readmeBlocks()) {
    if (block.language == "sh" &&
        block.text.find("cutover deploy ./public --site docs") != std::string::npos) {
      text = block.text;
      break;
    }
  }
  ASSERT_FALSE(text.empty());
  testing::TempDir dir;
  testing::writeFile(dir / "public" / "index.html", "<h1>one</h1>");
  testing::writeFile(dir / "public-v2" / "index.html", "<h1>two</h1>");
  testing::writeFile(dir / "staged" / "index.html", "<h1>staged</h1>");
  ASSERT_EQ(std::system(("tar -czf '" + (dir / "site.zip").string() + "' -C '" +
                         (dir / "staged").string() + "' .")
                            .c_str()),
            0);
  auto data = (dir / "cutover-data").string();
  testing::RunOptions here{dir.path(), {{"CUTOVER_CONFIG", ""}, {"CUTOVER_DATA", ""}}};
  std::vector<std::unique_ptr<testing::ServerProcess>> servers;
  std::vector<std::string> deployed;  // versions, in the order the block stored them
  auto body = [&] {
    return servers.empty()
               ? std::string()
               : testing::httpRequest(servers.front()->port(), "docs.localhost", "/").body;
  };
  auto answers = [&](const std::string& expected) {
    for (int i = 0; i < 1000 && body() != expected; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return body() == expected;
  };
  std::istringstream lines(text);
  std::string line;
  int ran = 0;
  while (std::getline(lines, line)) {
    auto words = shellWords(line);
    if (words.empty() || words.front() != "cutover") continue;
    words.erase(words.begin());
    const std::string& command = words.front();
    if (command == "serve") {
      std::vector<std::string> args{"--data-dir", data, "serve", "--listen", "127.0.0.1:0"};
      for (std::size_t i = 1; i < words.size(); ++i) {
        if (words[i] == "--listen") {
          ++i;
          continue;
        }
        args.push_back(words[i]);
      }
      servers.push_back(std::make_unique<testing::ServerProcess>(args));
      ++ran;
      continue;
    }
    for (auto& w : words) {
      if (w != "<version>") continue;
      ASSERT_EQ(deployed.size(), command == "activate" ? 2U : 3U) << line;
      if (command == "activate") w = deployed[1];
      if (command == "versions") w = words[1] == "delete" ? deployed[2] : deployed[0];
    }
    auto r = testing::runCutover(words, here);
    ASSERT_EQ(r.exit_code, 0) << "README.md: " << line << "\n" << r.out << r.err;
    ++ran;
    if (command == "deploy") {
      // "deployed V of docs" or "stored V of docs"
      auto start = r.out.find(' ') + 1;
      deployed.push_back(r.out.substr(start, r.out.find(' ', start) - start));
    }
    if (line.find("deploy ./public --site") != std::string::npos) continue;  // no server yet
    if (line.find("deploy ./public-v2") != std::string::npos) {
      EXPECT_TRUE(answers("<h1>two</h1>")) << line << ": " << body();
    } else if (command == "rollback") {
      EXPECT_TRUE(answers("<h1>one</h1>")) << line << ": " << body();
    } else if (command == "activate") {
      EXPECT_TRUE(answers("<h1>two</h1>")) << line << ": " << body();
    } else if (line.find("--no-activate") != std::string::npos) {
      EXPECT_EQ(body(), "<h1>two</h1>") << line;
    } else if (command == "versions" && words.size() > 1 && words[1] == "delete") {
      auto gone =
          testing::httpRequest(servers.front()->port(), deployed[2] + "--docs.localhost", "/");
      for (int i = 0; i < 1000 && gone.status != 404; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        gone = testing::httpRequest(servers.front()->port(), deployed[2] + "--docs.localhost", "/");
      }
      EXPECT_EQ(gone.status, 404) << line;
    }
  }
  EXPECT_GE(ran, 15);
  EXPECT_EQ(servers.size(), 2U);
  // The first server came up after the first deploy and answered the first version before the
  // second went live; the first deploy is the one the staged, preview and rollback lines named.
  ASSERT_EQ(deployed.size(), 3U);
  EXPECT_EQ(
      testing::httpRequest(servers.front()->port(), deployed[0] + "--docs.localhost", "/").body,
      "<h1>one</h1>");
  EXPECT_EQ(testing::httpRequest(servers.back()->port(), "docs.example.com", "/").body,
            "<h1>two</h1>");
}

// The README's [sites.docs] as written, with only the repository replaced by a real Vite project:
// `npm ci && npm run build` must find vite (a devDependency) and the site must go live.
TEST(ReadmeTest, TheExampleConfigBuildsAViteProject) {
  if (std::system("command -v npm >/dev/null 2>&1 && command -v node >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "node and npm are not installed";
  }
  std::string toml;
  for (const auto& block : readmeBlocks()) {
    // The first: the whole example config (later blocks show one part each).
    if (block.language == "toml" && block.text.find("[sites.docs]") != std::string::npos &&
        toml.empty()) {
      toml = block.text;
    }
  }
  ASSERT_FALSE(toml.empty());
  testing::TempDir dir;
  testing::GitRepo repo(dir.path(), "docs");
  auto work = repo.work();
  testing::writeFile(work / "package.json",
                     R"({"name": "docs", "private": true, "type": "module",
 "scripts": {"build": "vite build"}, "devDependencies": {"vite": "5.4.11"}})");
  testing::writeFile(work / "index.html",
                     "<!doctype html><html><body><div id=\"app\"></div>"
                     "<script type=\"module\" src=\"/main.js\"></script></body></html>\n");
  testing::writeFile(work / "main.js",
                     "document.getElementById('app').textContent = 'built by vite';\n");
  std::string lock = "cd '" + work.string() +
                     "' && npm install --package-lock-only --ignore-scripts --no-audit --no-fund "
                     ">/dev/null 2>&1";
  if (std::system(lock.c_str()) != 0) GTEST_SKIP() << "the npm registry cannot be reached";
  repo.commit("", "Vite app");
  repo.push();

  toml = std::regex_replace(toml, std::regex("repo = \"[^\"]*\""),
                            "repo = \"" + repo.bare().string() + "\"");
  toml = std::regex_replace(toml, std::regex("data_dir = \"[^\"]*\""),
                            "data_dir = \"" + (dir / "data").string() + "\"");
  auto config = (dir / "cutover.toml").string();
  testing::writeFile(config, toml);
  auto built = testing::runCutover({"--config", config, "pipeline", "run", "docs"});
  EXPECT_EQ(built.exit_code, 0) << built.out << built.err;
  EXPECT_EQ(built.out.find("vite: not found"), std::string::npos) << built.out;
  EXPECT_NE(built.out.find("deployed "), std::string::npos) << built.out;
  auto versions = testing::runCutover({"--config", config, "versions", "docs"});
  EXPECT_NE(versions.out.find("* live"), std::string::npos) << versions.out << versions.err;
}

}  // namespace
}  // namespace cutover
