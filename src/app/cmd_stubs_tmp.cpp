#include "app/commands.h"
#include "core/error.h"
namespace wma::app {
int cmd_inspect(int, char**) { fail("inspect: not built yet"); }
int cmd_convert(int, char**) { fail("convert: not built yet"); }
}
