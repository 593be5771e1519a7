// OpenAI embeddings answers: one list of vectors, as numbers or base64 as the client asked. They are never
// streamed.
#pragma once

#include <memory>

#include "gateway/completion_writers.h"

namespace mg::gateway {

std::unique_ptr<AnswerFormat> make_embeddings_format(const ResponseIdentity& identity);

}  // namespace mg::gateway
