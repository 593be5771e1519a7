// The choice of kernel table: the pure rule (best available, the requested one, or the best available
// with a warning), MODELGATE_KERNELS read from the environment, and the tables matching the CPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <optional>
#include <string>

#include "local_engine/kernels/quantized_dot.h"

namespace mg::engine {
namespace {

constexpr std::array kIsas = {KernelIsa::scalar, KernelIsa::avx2, KernelIsa::avx512};

TEST(KernelIsaChoiceTest, TakesTheBestAvailableWhenNothingIsRequested) {
  const std::array available = {KernelIsa::scalar, KernelIsa::avx2};
  const KernelIsaChoice choice = choose_kernel_isa("", available);
  EXPECT_EQ(choice.isa, KernelIsa::avx2);
  EXPECT_EQ(choice.warning, "");
}

TEST(KernelIsaChoiceTest, HonoursARequestTheCpuCanRun) {
  const std::array available = {KernelIsa::scalar, KernelIsa::avx2, KernelIsa::avx512};
  for (KernelIsa isa : kIsas) {
    const KernelIsaChoice choice = choose_kernel_isa(kernel_isa_name(isa), available);
    EXPECT_EQ(choice.isa, isa);
    EXPECT_EQ(choice.warning, "");
  }
}

TEST(KernelIsaChoiceTest, FallsBackWithAWarningForAnUnknownName) {
  const std::array available = {KernelIsa::scalar, KernelIsa::avx2};
  const KernelIsaChoice choice = choose_kernel_isa("neon", available);
  EXPECT_EQ(choice.isa, KernelIsa::avx2);
  EXPECT_NE(choice.warning.find("'neon'"), std::string::npos) << choice.warning;
  EXPECT_NE(choice.warning.find("using avx2"), std::string::npos) << choice.warning;
}

TEST(KernelIsaChoiceTest, FallsBackWithAWarningForAnIsaTheCpuLacks) {
  const std::array available = {KernelIsa::scalar, KernelIsa::avx2};
  const KernelIsaChoice choice = choose_kernel_isa("avx512", available);
  EXPECT_EQ(choice.isa, KernelIsa::avx2);
  EXPECT_NE(choice.warning.find("avx512vnni"), std::string::npos) << choice.warning;
  EXPECT_NE(choice.warning.find("using avx2"), std::string::npos) << choice.warning;
}

// Sets MODELGATE_KERNELS for one test and restores it after.
class ScopedKernelsVariable {
 public:
  explicit ScopedKernelsVariable(const char* value) {
    if (const char* old = std::getenv(kName)) saved_ = old;
    setenv(kName, value, 1);
  }
  ~ScopedKernelsVariable() {
    if (saved_) setenv(kName, saved_->c_str(), 1);
    else unsetenv(kName);
  }

 private:
  static constexpr const char* kName = "MODELGATE_KERNELS";
  std::optional<std::string> saved_;
};

TEST(KernelIsaChoiceTest, EnvironmentOverridePicksTheAskedIsa) {
  for (KernelIsa isa : available_kernel_isas()) {
    const ScopedKernelsVariable variable(std::string(kernel_isa_name(isa)).c_str());
    testing::internal::CaptureStderr();
    EXPECT_EQ(kernel_isa_from_environment(), isa);
    EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
  }
}

TEST(KernelIsaChoiceTest, EnvironmentOverrideWithAnUnknownNameSaysSoOnStderrAndRunsTheBest) {
  const ScopedKernelsVariable variable("avx9000");
  testing::internal::CaptureStderr();
  EXPECT_EQ(kernel_isa_from_environment(), available_kernel_isas().back());
  const std::string message = testing::internal::GetCapturedStderr();
  EXPECT_NE(message.find("MODELGATE_KERNELS='avx9000'"), std::string::npos) << message;
}

TEST(KernelIsaChoiceTest, ScalarTableIsAlwaysAvailableAndTablesMatchTheCpu) {
  ASSERT_NE(kernel_table(KernelIsa::scalar), nullptr);
  EXPECT_EQ(available_kernel_isas().front(), KernelIsa::scalar);
  for (KernelIsa isa : kIsas) {
    const bool listed = std::find(available_kernel_isas().begin(), available_kernel_isas().end(), isa) !=
                        available_kernel_isas().end();
    EXPECT_EQ(kernel_table(isa) != nullptr, listed) << kernel_isa_name(isa);
  }
  EXPECT_NE(kernel_table(active_kernel_isa()), nullptr);
  RecordProperty("active_kernel_isa", std::string(kernel_isa_name(active_kernel_isa())));
}

}  // namespace
}  // namespace mg::engine
