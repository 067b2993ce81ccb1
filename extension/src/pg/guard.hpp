// The border between C++ and PostgreSQL error handling.
//
// PostgreSQL reports errors with longjmp, which skips C++ destructors; a C++ exception
// must never unwind through PostgreSQL frames. So every SQL-callable function runs its
// body through run_sql_function (C++ exceptions caught, reported only after every C++
// object of the body is gone), and every PostgreSQL call that can raise an error from
// inside C++ code goes through call_postgres (the error caught and rethrown as C++).
#pragma once

#include <cstdio>
#include <exception>
#include <new>
#include <string>
#include <type_traits>
#include <utility>

#include "pg/postgres.hpp"

namespace leadsync::pg {

// A PostgreSQL error caught by call_postgres, to be rethrown by run_sql_function.
struct PostgresError {
  ErrorData* error;
};

// PostgreSQL asked the backend to stop (cancel, statement_timeout, shutdown) while C++
// code ran; run_sql_function lets CHECK_FOR_INTERRUPTS raise the proper error.
struct InterruptRequested {};

// An error leadsync reports itself, with an SQLSTATE and optional hint.
struct SqlError : std::exception {
  int sqlstate;
  std::string message;
  std::string hint;
  SqlError(int code, std::string text, std::string hint_text = {})
      : sqlstate(code), message(std::move(text)), hint(std::move(hint_text)) {}
  const char* what() const noexcept override { return message.c_str(); }
};

// Runs fn, which calls PostgreSQL, converting a PostgreSQL error into PostgresError.
// fn must not create C++ objects that outlive a longjmp; its result must be trivial.
template <class Fn>
auto call_postgres(Fn&& fn) {
  using Result = decltype(fn());
  static_assert(std::is_void_v<Result> || std::is_scalar_v<Result>,
                "call_postgres results cross a longjmp boundary: return a pointer or a scalar");
  MemoryContext caller_context = CurrentMemoryContext;
  ErrorData* volatile caught = nullptr;
  if constexpr (std::is_void_v<Result>) {
    PG_TRY();
    { fn(); }
    PG_CATCH();
    {
      MemoryContextSwitchTo(caller_context);
      caught = CopyErrorData();
      FlushErrorState();
    }
    PG_END_TRY();
    if (caught) throw PostgresError{caught};
  } else {
    volatile Result result{};  // volatile: assigned between setjmp and a possible longjmp
    PG_TRY();
    { result = fn(); }
    PG_CATCH();
    {
      MemoryContextSwitchTo(caller_context);
      caught = CopyErrorData();
      FlushErrorState();
    }
    PG_END_TRY();
    if (caught) throw PostgresError{caught};
    return result;
  }
}

// Runs the C++ body of a SQL-callable function and reports its errors to PostgreSQL
// only once the body's C++ objects are destroyed. `body` returns a Datum.
template <class Body>
Datum run_sql_function(FunctionCallInfo fcinfo, Body&& body) {
  ErrorData* postgres_error = nullptr;
  bool interrupted = false;
  int sqlstate = 0;
  char message[1024];
  char hint[512];
  hint[0] = '\0';
  Datum result = 0;
  try {
    result = body(fcinfo);
  } catch (const PostgresError& e) {
    postgres_error = e.error;
  } catch (const InterruptRequested&) {
    interrupted = true;
  } catch (const SqlError& e) {
    sqlstate = e.sqlstate;
    snprintf(message, sizeof message, "%s", e.message.c_str());
    snprintf(hint, sizeof hint, "%s", e.hint.c_str());
  } catch (const std::bad_alloc&) {
    sqlstate = ERRCODE_OUT_OF_MEMORY;
    snprintf(message, sizeof message, "leadsync: out of memory");
  } catch (const std::exception& e) {
    sqlstate = ERRCODE_INTERNAL_ERROR;
    snprintf(message, sizeof message, "leadsync: %s", e.what());
  } catch (...) {
    sqlstate = ERRCODE_INTERNAL_ERROR;
    snprintf(message, sizeof message, "leadsync: unexpected C++ exception");
  }
  if (postgres_error) ReThrowError(postgres_error);
  if (interrupted) {
    CHECK_FOR_INTERRUPTS();
    ereport(ERROR, (errcode(ERRCODE_QUERY_CANCELED), errmsg("leadsync: interrupted")));
  }
  if (sqlstate)
    ereport(ERROR, (errcode(sqlstate), errmsg("%s", message), hint[0] ? errhint("%s", hint) : 0));
  return result;
}

}  // namespace leadsync::pg
