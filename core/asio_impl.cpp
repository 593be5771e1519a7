// The single translation unit that holds the compiled code of Asio (with its TLS layer) and Beast
// (separate compilation mode), so the rest of the tree only parses their declarations.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
