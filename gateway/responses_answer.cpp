#include "gateway/responses_answer.h"

#include "gateway/http_exchange.h"
#include "gateway/segmented_answer.h"

namespace mg::gateway {
namespace {

using nlohmann::json;

// One output item as it grows: the message's text, or a function call's arguments.
struct OutputItem {
  enum class Kind { message, function_call };
  Kind kind = Kind::message;
  std::string id;
  std::string text;       // message
  std::string call_id;    // function_call
  std::string name;       // function_call
  std::string arguments;  // function_call
  int tool_index = -1;    // the ToolCallDelta index it gathers

  json part_json() const { return {{"type", "output_text"}, {"text", text}, {"annotations", json::array()}, {"logprobs", json::array()}}; }

  json to_json(const char* status) const {
    if (kind == Kind::function_call) {
      return {{"type", "function_call"}, {"id", id}, {"call_id", call_id}, {"name", name}, {"arguments", arguments}, {"status", status}};
    }
    json content = json::array();
    if (std::string(status) != "in_progress") content.push_back(part_json());
    return {{"type", "message"}, {"id", id}, {"status", status}, {"role", "assistant"}, {"content", std::move(content)}};
  }
};

const char* final_status(FinishReason reason) {
  return reason == FinishReason::length || reason == FinishReason::content_filter ? "incomplete" : "completed";
}

json incomplete_details(FinishReason reason) {
  if (reason == FinishReason::length) return {{"reason", "max_output_tokens"}};
  if (reason == FinishReason::content_filter) return {{"reason", "content_filter"}};
  return nullptr;
}

class ResponsesFormat final : public SegmentedAnswerFormat {
 public:
  explicit ResponsesFormat(const ResponseIdentity& identity) : identity_(identity) {}

  std::string stream_end() override {
    std::string out;
    start(out);
    close_segment(out);
    const char* status = final_status(finish_.reason);
    out += event_text(std::string("response.") + status, {{"response", response_json(status)}});
    return out;
  }

  std::string stream_failure(const Error& error) override {
    std::string out;
    start(out);
    json response = response_json("failed");
    response["error"] = {{"code", error.code.empty() ? "server_error" : error.code}, {"message", error.message}};
    out += event_text("response.failed", {{"response", std::move(response)}});
    return out;
  }

  Result<std::string> whole(const Completion& completion) override {
    ChoiceResult first = completion.choices.empty() ? ChoiceResult{} : completion.choices.front();
    if (!first.text.empty()) {
      items_.push_back(OutputItem{OutputItem::Kind::message, item_id("msg", 0), first.text, {}, {}, {}, -1});
    }
    for (const ToolCall& call : first.tool_calls) {
      std::string id = item_id("fc", items_.size());
      std::string call_id = call.id.empty() ? id : call.id;  // as the stream does: a call the route gave no id is known by its item's
      items_.push_back(OutputItem{OutputItem::Kind::function_call, std::move(id), {}, std::move(call_id), call.name, call.arguments, -1});
    }
    finish_.reason = first.finish_reason.value_or(FinishReason::stop);
    usage_ = completion.usage.value_or(UsageReport{});
    return to_json_text(response_json(final_status(finish_.reason)));
  }

 private:
  void add_text(std::string& out, const std::string& text) override {
    OutputItem& item = open_item(out, OutputItem::Kind::message, -1);
    item.text += text;
    out += event_text("response.output_text.delta", {{"item_id", item.id}, {"output_index", index_of(item)}, {"content_index", 0},
                                                     {"delta", text}, {"logprobs", json::array()}});
  }

  void add_tool_call(std::string& out, const ToolCallDelta& call) override {
    OutputItem& item = open_item(out, OutputItem::Kind::function_call, call.index, &call);
    item.arguments += call.arguments;
    if (call.arguments.empty()) return;
    out += event_text("response.function_call_arguments.delta", {{"item_id", item.id}, {"output_index", index_of(item)}, {"delta", call.arguments}});
  }

  std::string item_id(const char* prefix, std::size_t index) const {
    return std::string(prefix) + "_" + identity_.id.substr(identity_.id.find('_') + 1) + "_" + std::to_string(index);
  }

  int index_of(const OutputItem& item) const { return static_cast<int>(&item - items_.data()); }

  json response_json(const char* status) const {
    json output = json::array();
    for (const OutputItem& item : items_) output.push_back(item.to_json("completed"));
    json response = {{"id", identity_.id}, {"object", "response"}, {"created_at", identity_.created}, {"status", status},
                     {"model", identity_.route ? identity_.route->entry->model_id : ""}, {"output", std::move(output)},
                     {"error", nullptr}, {"incomplete_details", nullptr}, {"previous_response_id", nullptr}, {"store", false},
                     {"usage", nullptr}};
    if (std::string(status) == "in_progress") return response;
    response["incomplete_details"] = incomplete_details(finish_.reason);
    auto [usage, cost] = billed_usage(identity_, usage_);
    response["usage"] = {{"input_tokens", usage.prompt_tokens}, {"input_tokens_details", {{"cached_tokens", usage.cached_prompt_tokens}}},
                         {"output_tokens", usage.completion_tokens}, {"output_tokens_details", {{"reasoning_tokens", 0}}},
                         {"total_tokens", usage.prompt_tokens + usage.completion_tokens}, {"cost", cost}};
    return response;
  }

  std::string event_text(const std::string& type, json fields) {
    fields["type"] = type;
    fields["sequence_number"] = sequence_++;
    return "event: " + type + "\ndata: " + to_json_text(fields) + "\n\n";
  }

  // response.created and response.in_progress, once, before the first item.
  void start(std::string& out) {
    if (started_) return;
    started_ = true;
    out += event_text("response.created", {{"response", response_json("in_progress")}});
    out += event_text("response.in_progress", {{"response", response_json("in_progress")}});
  }

  // The item this delta belongs to: the open one, or a new one after closing it.
  OutputItem& open_item(std::string& out, OutputItem::Kind kind, int tool_index, const ToolCallDelta* call = nullptr) {
    if (open_ && items_.back().kind == kind && items_.back().tool_index == tool_index) return items_.back();
    start(out);
    close_segment(out);
    OutputItem item{kind, item_id(kind == OutputItem::Kind::message ? "msg" : "fc", items_.size()), {}, {}, {}, {}, tool_index};
    if (call) item.call_id = call->id.empty() ? item.id : call->id, item.name = call->name;
    items_.push_back(std::move(item));
    open_ = true;
    const OutputItem& added = items_.back();
    out += event_text("response.output_item.added", {{"output_index", index_of(added)}, {"item", added.to_json("in_progress")}});
    if (kind == OutputItem::Kind::message) {
      json part = added.part_json();
      out += event_text("response.content_part.added", {{"item_id", added.id}, {"output_index", index_of(added)}, {"content_index", 0}, {"part", std::move(part)}});
    }
    return items_.back();
  }

  void close_segment(std::string& out) override {
    if (!open_) return;
    open_ = false;
    const OutputItem& item = items_.back();
    const int index = index_of(item);
    if (item.kind == OutputItem::Kind::message) {
      out += event_text("response.output_text.done", {{"item_id", item.id}, {"output_index", index}, {"content_index", 0}, {"text", item.text}, {"logprobs", json::array()}});
      out += event_text("response.content_part.done", {{"item_id", item.id}, {"output_index", index}, {"content_index", 0}, {"part", item.part_json()}});
    } else {
      out += event_text("response.function_call_arguments.done", {{"item_id", item.id}, {"output_index", index}, {"name", item.name}, {"arguments", item.arguments}});
    }
    out += event_text("response.output_item.done", {{"output_index", index}, {"item", item.to_json("completed")}});
  }

  const ResponseIdentity& identity_;
  std::vector<OutputItem> items_;
  bool open_ = false;  // the last item still grows
  bool started_ = false;
  int sequence_ = 0;
};

}  // namespace

std::unique_ptr<AnswerFormat> make_responses_format(const ResponseIdentity& identity) { return std::make_unique<ResponsesFormat>(identity); }

}  // namespace mg::gateway
