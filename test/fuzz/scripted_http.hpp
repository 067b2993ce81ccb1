// The page harnesses' stand-in for the network: HttpClient (declared by the adapters'
// http_client.hpp) is defined in scripted_http.cpp to answer every request with the next
// response of a script parsed from the fuzz input, instead of libcurl. The adapters'
// code (meta/knowlarity/google_ads_source.cpp, retry.cpp, page_fetch.hpp) is compiled
// unchanged; only http_client.cpp is left out of the link.
//
// Input format (also documented in README.md):
//   #FLAGS\n           optional first line: letters that change the harness's configuration
//   RECORD             one response; records are separated by a line "====="
//   \n=====\n
//   RECORD ...
// A RECORD is a body, optionally preceded by a line "@STATUS" or "@STATUS name: value"
// (default 200, content-type application/json). When the script runs out, every further
// request fails as a transport error (which the adapters retry, then give up on).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#if __has_include("sync/http_client.hpp")
#include "sync/http_client.hpp"
#else
#include "http_client.hpp"
#endif

namespace leadsync::fuzz {

struct Script {
  std::string flags;
  std::vector<sync::HttpResponse> responses;
  std::size_t next = 0;

  // What every request must respect: it goes to one of these hosts over https (the
  // tokens it carries must never reach another host), and its description (which is
  // logged) holds none of `secrets`, unless the server sent that text itself (`input`).
  std::vector<std::string> allowed_hosts;
  std::vector<std::string> secrets;
  std::string_view input;
  std::size_t requests = 0;
};

Script parse_script(std::string_view input);

// The script the next HttpClient::perform calls answer from (one per fuzz input).
void set_current_script(Script* script);

}  // namespace leadsync::fuzz
