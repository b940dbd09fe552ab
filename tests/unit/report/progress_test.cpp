// Rank 0's progress: a log gets few plain lines (none for a transfer under
// 2 s) ending at 100%, a terminal
// one line redrawn in place, -q nothing. (No assertion on timing: the
// throttle's clock decides only how many lines, never what they say.)
#include <distenv/report/progress.hpp>

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

using distenv::report::Progress;

namespace {

std::string read_all(std::FILE* f) {
  std::string out(static_cast<size_t>(std::ftell(f)), '\0');
  std::rewind(f);
  out.resize(std::fread(out.data(), 1, out.size(), f));
  std::fclose(f);
  return out;
}

std::string run(Progress::Style style, uint64_t total, int threads,
                std::chrono::milliseconds interval = std::chrono::seconds(2)) {
  std::FILE* f = std::tmpfile();
  {
    Progress p(f, style, "sending to 3 machines", total, 0, interval);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&] {
        for (uint64_t done = 0; done <= total; done += total / 1000)
          p.update(done);
      });
    for (auto& t : pool)
      t.join();
    p.finish();
  }
  return read_all(f);
}

std::vector<std::string> lines_of(const std::string& out) {
  std::vector<std::string> lines;
  for (size_t pos = 0, eol; (eol = out.find('\n', pos)) != std::string::npos; pos = eol + 1)
    lines.push_back(out.substr(pos, eol - pos));
  return lines;
}

} // namespace

TEST(Progress, ALogGetsAtMostALinePerTenthAndTheEnd) {
  const std::string out = run(Progress::Style::lines, 1000000, 2);
  size_t lines = 0;
  for (char c : out)
    lines += c == '\n';
  EXPECT_LE(lines, 11u) << out;
  EXPECT_EQ(out.find('\r'), std::string::npos);
  if (lines == 0)
    return; // all within the first 2 s: a log needs no progress, the summary follows
  const std::string last = out.substr(
      out.rfind('\n', out.size() - 2) == std::string::npos ? 0 : out.rfind('\n', out.size() - 2) + 1);
  EXPECT_EQ(last.rfind("distenv: sending to 3 machines 100%", 0), 0u) << out;
}

TEST(Progress, WithoutAnIntervalALogGetsExactlyOneLinePerTenth) {
  const std::string out = run(Progress::Style::lines, 1000000, 1, std::chrono::milliseconds(0));
  const std::vector<std::string> lines = lines_of(out);
  ASSERT_EQ(lines.size(), 10u) << out;
  EXPECT_EQ(lines[0].rfind("distenv: sending to 3 machines  10%  ", 0), 0u) << lines[0];
  EXPECT_EQ(lines[9].rfind("distenv: sending to 3 machines 100%  977 KiB of 977 KiB", 0), 0u) << lines[9];
}

TEST(Progress, ATerminalGetsOneLineRedrawnAndClearedAtTheEnd) {
  const std::string out = run(Progress::Style::live, 1000000, 1);
  EXPECT_EQ(out.find('\n'), std::string::npos) << "no new lines: the line is redrawn in place";
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.rfind("\r\x1b[K"), out.size() - 4) << "cleared before the summary";
}

TEST(Progress, QuietPrintsNothing) {
  EXPECT_EQ(run(Progress::Style::quiet, 1000000, 2), "");
}

// After the bytes, the machines: a log gets a line per tenth of the machines
// that have installed, a terminal sees each one; every line says how many.
TEST(Progress, MachinesInstalledAreCountedAfterTheBytes) {
  std::FILE* f = std::tmpfile();
  {
    Progress p(f, Progress::Style::lines, "sending to 20 machines", 1000, 20, std::chrono::milliseconds(0));
    p.update(1000);
    for (int m = 0; m < 20; ++m)
      p.installed();
    p.finish();
  }
  const std::vector<std::string> lines = lines_of(read_all(f));
  ASSERT_EQ(lines.size(), 11u); // 100% of the bytes, then every 2 machines
  EXPECT_NE(lines[0].find("100%"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("installed on 0 of 20"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("installed on 2 of 20"), std::string::npos) << lines[1];
  EXPECT_NE(lines[10].find("installed on 20 of 20"), std::string::npos) << lines[10];
}

TEST(Progress, ATerminalSeesEveryMachine) {
  std::FILE* f = std::tmpfile();
  {
    Progress p(f, Progress::Style::live, "sending to 3 machines", 1000, 3);
    p.update(1000);
    for (int m = 0; m < 3; ++m)
      p.installed();
    p.finish("done");
  }
  const std::string out = read_all(f);
  for (int m = 1; m <= 3; ++m)
    EXPECT_NE(out.find("installed on " + std::to_string(m) + " of 3\x1b[K"), std::string::npos) << m << out;
  EXPECT_EQ(out.substr(out.size() - 9), "\r\x1b[Kdone\n");
}

// A job that fails on the way: the line is cleared, nothing claims 100%.
TEST(Progress, NotFinishedClaimsNothing) {
  std::FILE* f = std::tmpfile();
  {
    Progress p(f, Progress::Style::lines, "sending to 3 machines", 1000, 3, std::chrono::milliseconds(0));
    p.update(500);
  }
  const std::string out = read_all(f);
  EXPECT_EQ(out.find("100%"), std::string::npos) << out;
  EXPECT_NE(out.find(" 50%"), std::string::npos) << out;
}
