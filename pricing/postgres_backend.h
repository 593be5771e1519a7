// The PostgreSQL backend, through libpq: statements prepared once per connection and reused by their
// text, parameters sent as text, a broken connection re-opened at the next use. Migrations are tracked in
// the table modelgate_schema and applied under an advisory lock, so replicas starting together migrate once.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "pricing/database.h"

namespace mg::pricing {

// Connects to the server that `url` (postgresql://user[:password]@host[:port]/dbname[?...]) names.
// Throws DatabaseError when it cannot.
std::unique_ptr<Connection> open_postgres(const std::string& url);

// `sql` with its SQLite-style positional parameters (?1, ?2) written as PostgreSQL's ($1, $2); text
// inside quotes is left as it is.
std::string postgres_placeholders(std::string_view sql);

}  // namespace mg::pricing
