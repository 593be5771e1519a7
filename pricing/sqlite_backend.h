// The SQLite backend: a file opened in WAL mode, migrations tracked in PRAGMA user_version.
#pragma once

#include <memory>
#include <string>

#include "pricing/database.h"

namespace mg::pricing {

// Opens (creating if missing) the file at `path`. Throws DatabaseError naming the file.
std::unique_ptr<Connection> open_sqlite(const std::string& path);

}  // namespace mg::pricing
