// A prepared statement on either backend (SQLite or PostgreSQL): binds by position (?1, ?2, ...), steps,
// reads columns. Errors throw DatabaseError carrying the backend's message; catalogue code runs at
// start-up, in the CLI or on the background writer threads, never on the request path.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace mg::pricing {

// What the database refused. `reason` is the backend's words for the failure ("database is locked",
// "connection refused") without the file's path or the server's address that what() may name: what may
// be shown beyond the log.
class DatabaseError : public std::runtime_error {
 public:
  enum class Kind {
    other,
    damaged,      // the SQLite file is not a sound database
    unreachable,  // the server cannot be reached, or the connection broke
  };
  DatabaseError(const std::string& message, std::string reason, Kind kind = Kind::other)
      : std::runtime_error(message), reason_(std::move(reason)), kind_(kind) {}
  bool damaged() const { return kind_ == Kind::damaged; }
  bool unreachable() const { return kind_ == Kind::unreachable; }
  const std::string& reason() const { return reason_; }

 private:
  std::string reason_;
  Kind kind_;
};

// One backend's prepared statement (pricing/sqlite_backend.cpp, pricing/postgres_backend.cpp).
class StatementBackend {
 public:
  virtual ~StatementBackend() = default;
  virtual void bind_integer(int index, std::int64_t value) = 0;
  virtual void bind_real(int index, double value) = 0;
  // `owned`: false when the caller keeps `value` alive until the statement is reset.
  virtual void bind_text(int index, std::string_view value, bool owned) = 0;
  virtual void bind_null(int index) = 0;
  virtual bool step() = 0;
  virtual void reset() = 0;
  virtual bool is_null(int column) const = 0;
  virtual std::int64_t integer(int column) const = 0;
  virtual double real(int column) const = 0;
  virtual std::string text(int column) const = 0;
};

class Statement {
 public:
  explicit Statement(std::unique_ptr<StatementBackend> backend) : backend_(std::move(backend)) {}
  Statement(Statement&&) noexcept = default;
  Statement& operator=(Statement&&) noexcept = default;

  Statement& bind(int index, std::int64_t value) { return backend_->bind_integer(index, value), *this; }
  Statement& bind(int index, int value) { return bind(index, static_cast<std::int64_t>(value)); }
  Statement& bind(int index, bool value) { return bind(index, static_cast<std::int64_t>(value ? 1 : 0)); }
  Statement& bind(int index, double value) { return backend_->bind_real(index, value), *this; }
  Statement& bind(int index, std::string_view value) { return backend_->bind_text(index, value, true), *this; }
  Statement& bind(int index, const char* value) { return bind(index, std::string_view(value)); }
  Statement& bind(int index, const std::string& value) { return bind(index, std::string_view(value)); }
  Statement& bind(int index, std::nullopt_t) { return backend_->bind_null(index), *this; }
  // Binds `value` without copying it: it must stay alive and unchanged until the statement is reset.
  Statement& bind_unowned(int index, std::string_view value) { return backend_->bind_text(index, value, false), *this; }
  template <class T>
  Statement& bind(int index, const std::optional<T>& value) {
    return value ? bind(index, *value) : bind(index, std::nullopt);
  }

  // True while a row is available; false when done.
  bool step() { return backend_->step(); }
  // Steps to completion (for statements that return no rows) and resets for reuse.
  void run() {
    while (step()) {
    }
    reset();
  }
  void reset() { backend_->reset(); }

  bool is_null(int column) const { return backend_->is_null(column); }
  std::int64_t integer(int column) const { return backend_->integer(column); }
  double real(int column) const { return backend_->real(column); }
  std::string text(int column) const { return backend_->text(column); }
  std::optional<double> optional_real(int column) const {
    if (is_null(column)) return std::nullopt;
    return real(column);
  }

 private:
  std::unique_ptr<StatementBackend> backend_;
};

}  // namespace mg::pricing
