// The single translation unit that holds the compiled code of Asio and Beast (separate compilation mode),
// so the rest of the tree only parses their declarations.
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
