// libFuzzer target: a file given to `modelgate catalogue import` (OpenRouter's models listing as JSON, or
// CSV routes), imported by import_catalogue into a new in-memory SQLite catalogue, migrated and seeded as
// a new gateway database is. An import is all or nothing: a file rejected leaves the catalogue exactly as
// it was. A file accepted leaves a catalogue whose CSV export (`modelgate catalogue export`) imports into
// another new catalogue and exports the same bytes again.
#include <sqlite3.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>

#include "pricing/catalogue.h"
#include "pricing/database.h"
#include "tests/fuzz/fuzz_check.h"
#include "tools/catalogue_import.h"

namespace {

using mg::pricing::Database;

std::string exported(const Database& db) { return mg::tools::export_routes_csv(mg::pricing::load_catalogue(db)); }

// A new gateway database. Migrating and seeding one takes milliseconds, so that is done once, and a
// catalogue an input changed is put back by copying the pristine one over it (SQLite's backup API).
struct Catalogues {
  Database pristine = Database::open(":memory:");
  std::string pristine_export = exported(pristine);
  std::int64_t pristine_version = mg::pricing::catalogue_version(pristine);
  Database imported_into = Database::open(":memory:");
  Database reimported_into = Database::open(":memory:");
};

void restore(Database& db, const Database& pristine) {
  sqlite3_backup* backup = sqlite3_backup_init(db.sqlite_handle(), "main", pristine.sqlite_handle(), "main");
  FUZZ_CHECK(backup != nullptr);
  FUZZ_CHECK(sqlite3_backup_step(backup, -1) == SQLITE_DONE);
  FUZZ_CHECK(sqlite3_backup_finish(backup) == SQLITE_OK);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Catalogues catalogues;
  const std::string file(reinterpret_cast<const char*>(data), size);
  Database& db = catalogues.imported_into;  // as pristine: each input that changes it puts it back

  auto imported = mg::tools::import_catalogue(db, file, {});
  if (auto* error = std::get_if<mg::tools::ImportError>(&imported)) {
    FUZZ_CHECK(!error->message.empty() && error->line >= 0);
    FUZZ_CHECK(exported(db) == catalogues.pristine_export);
    FUZZ_CHECK(mg::pricing::catalogue_version(db) == catalogues.pristine_version);
    return 0;
  }

  const std::string after = exported(db);
  restore(db, catalogues.pristine);
  Database& again = catalogues.reimported_into;
  auto reimported = mg::tools::import_catalogue(again, after, {});
  FUZZ_CHECK(std::holds_alternative<std::size_t>(reimported));
  FUZZ_CHECK(exported(again) == after);
  restore(again, catalogues.pristine);
  return 0;
}
