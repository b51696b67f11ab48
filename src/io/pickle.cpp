// Restricted pickle VM (protocols 2-5 opcodes as torch.save and Lightning emit them).
// Callables are never invoked: REDUCE/NEWOBJ on an allowed global build a descriptor or
// an opaque placeholder, so the worst a hostile file can do is be refused.
#include "io/pickle.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace wma::io::pickle {

namespace {

// How an allowed global behaves when called.
enum class Role {
  OrderedDict,    // builds a dict
  RebuildTensor,  // torch._utils._rebuild_tensor_v2
  RebuildParam,   // torch._utils._rebuild_parameter*: unwraps the tensor
  Size,           // torch.Size(tuple)
  CodecsEncode,   // _codecs.encode(str, 'latin1'): how protocol 2 stores bytes
  StorageType,    // only meaningful inside a persistent id
  Opaque,         // harmless metadata that is kept as a placeholder
};

struct Allowed {
  const char* name;
  Role role;
  FileDType storage_dtype = FileDType::U8;
};

const Allowed kAllowed[] = {
    {"collections.OrderedDict", Role::OrderedDict},
    {"builtins.dict", Role::OrderedDict},
    {"torch._utils._rebuild_tensor_v2", Role::RebuildTensor},
    {"torch._utils._rebuild_parameter", Role::RebuildParam},
    {"torch._utils._rebuild_parameter_with_state", Role::RebuildParam},
    {"torch.Size", Role::Size},
    {"_codecs.encode", Role::CodecsEncode},
    {"torch.FloatStorage", Role::StorageType, FileDType::F32},
    {"torch.HalfStorage", Role::StorageType, FileDType::F16},
    {"torch.BFloat16Storage", Role::StorageType, FileDType::BF16},
    {"torch.DoubleStorage", Role::StorageType, FileDType::F64},
    {"torch.LongStorage", Role::StorageType, FileDType::I64},
    {"torch.IntStorage", Role::StorageType, FileDType::I32},
    {"torch.ShortStorage", Role::StorageType, FileDType::I16},
    {"torch.CharStorage", Role::StorageType, FileDType::I8},
    {"torch.ByteStorage", Role::StorageType, FileDType::U8},
    {"torch.BoolStorage", Role::StorageType, FileDType::Bool},
    {"torch.storage.UntypedStorage", Role::StorageType, FileDType::U8},
    {"torch.UntypedStorage", Role::StorageType, FileDType::U8},
    // Harmless values Lightning and argparse leave in non-tensor entries.
    {"builtins.set", Role::Opaque},
    {"builtins.frozenset", Role::Opaque},
    {"builtins.slice", Role::Opaque},
    {"builtins.complex", Role::Opaque},
    {"argparse.Namespace", Role::Opaque},
    {"pathlib.PosixPath", Role::Opaque},
    {"pathlib.PurePosixPath", Role::Opaque},
    {"pathlib.WindowsPath", Role::Opaque},
    {"pathlib.PureWindowsPath", Role::Opaque},
    {"datetime.datetime", Role::Opaque},
    {"datetime.timedelta", Role::Opaque},
    {"numpy.core.multiarray.scalar", Role::Opaque},
    {"numpy._core.multiarray.scalar", Role::Opaque},
    {"numpy.core.multiarray._reconstruct", Role::Opaque},
    {"numpy._core.multiarray._reconstruct", Role::Opaque},
    {"numpy.ndarray", Role::Opaque},
    {"numpy.dtype", Role::Opaque},
    {"torch.device", Role::Opaque},
    {"torch.float32", Role::Opaque},
    {"torch.float16", Role::Opaque},
    {"torch.bfloat16", Role::Opaque},
    {"torch.float64", Role::Opaque},
    {"torch.int64", Role::Opaque},
    {"torch.int32", Role::Opaque},
    {"pytorch_lightning.utilities.parsing.AttributeDict", Role::Opaque},
    {"lightning_fabric.utilities.data.AttributeDict", Role::Opaque},
    {"lightning.fabric.utilities.data.AttributeDict", Role::Opaque},
};

const Allowed* find_allowed(const std::string& name) {
  for (const auto& a : kAllowed)
    if (name == a.name) return &a;
  return nullptr;
}

// Collections run once this many values have been made since the last one, at least: a collection costs the
// live set, so spacing them by a quarter of it keeps the cost per value constant.
constexpr std::size_t kMinCollectionSpacing = std::size_t{1} << 16;

class Machine {
 public:
  Machine(const std::uint8_t* data, std::size_t size, const std::string& context, std::deque<Object>& pool)
      : data_(data), size_(size), context_(context), pool_(pool), max_values_(max_pickle_values(size)) {}

  Object* run() {
    for (;;) {
      op_pos_ = pos_;
      if (in_use_ >= next_collection_) collect();
      const std::uint8_t op = byte();
      if (op == '.') {  // STOP
        WMA_CHECK(stack_.size() == 1, "[ckpt] ", context_, ": pickle stops with ", stack_.size(),
                  " values on the stack instead of one");
        return stack_.back();
      }
      step(op);
    }
  }

 private:
  template <typename... Args>
  [[noreturn]] void error(Args&&... args) const {
    fail("[ckpt] ", context_, ": pickle offset ", op_pos_, ": ", std::forward<Args>(args)...);
  }

  std::uint8_t byte() {
    if (pos_ >= size_) error("truncated pickle (no STOP opcode)");
    return data_[pos_++];
  }
  const std::uint8_t* take(std::uint64_t n) {
    if (n > size_ - pos_) error("truncated pickle: ", n, " bytes needed, ", size_ - pos_, " left");
    const std::uint8_t* p = data_ + pos_;
    pos_ += static_cast<std::size_t>(n);
    return p;
  }
  std::uint64_t le(int n) {
    const std::uint8_t* p = take(static_cast<std::uint64_t>(n));
    std::uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
    return v;
  }
  std::string line() {
    const std::size_t start = pos_;
    while (pos_ < size_ && data_[pos_] != '\n') ++pos_;
    if (pos_ >= size_) error("truncated pickle: unterminated text argument");
    std::string s(reinterpret_cast<const char*>(data_ + start), pos_ - start);
    ++pos_;
    return s;
  }

  Object* make(Object::Kind kind) {
    Object* o = nullptr;
    if (free_.empty()) {
      o = &pool_.emplace_back();
    } else {
      o = free_.back();
      free_.pop_back();
    }
    o->kind = kind;
    ++in_use_;
    return o;
  }

  // Marks what the stack and the memo reach (iteratively: nesting depth is the file's choice), then clears and
  // recycles every other slot, cycles included.
  void collect() {
    std::vector<Object*> work(stack_.begin(), stack_.end());
    for (const auto& [index, o] : memo_) work.push_back(o);
    std::size_t live = 0;
    while (!work.empty()) {
      Object* o = work.back();
      work.pop_back();
      if (o->reached) continue;
      o->reached = true;
      ++live;
      if (o->children == nullptr) continue;
      for (Object* i : o->children->items)
        if (!i->reached) work.push_back(i);
      for (const auto& [k, v] : o->children->entries) {
        if (!k->reached) work.push_back(k);
        if (!v->reached) work.push_back(v);
      }
    }
    if (live > max_values_)
      error("the pickle holds more than ", max_values_, " live values (the limit for a ", size_, "-byte pickle)");
    free_.clear();
    for (Object& o : pool_) {
      if (o.reached) {
        o.reached = false;
      } else {
        o = Object{};
        free_.push_back(&o);
      }
    }
    in_use_ = live;
    next_collection_ = live + std::max(live / 4, kMinCollectionSpacing);
  }

  // Calls copy values the file holds once (a memoised 1 MB string passed to _codecs.encode again and again), so
  // what they copy is limited to the file's size.
  void charge_copy(std::size_t n) {
    copied_ += n;
    if (copied_ > size_) error("calls copy more than the pickle's own ", size_, " bytes of values");
  }

  Children& children(Object* o) {
    if (o->children == nullptr) o->children = std::make_unique<Children>();
    return *o->children;
  }

  Object* make_string(Object::Kind kind, std::uint64_t n) {
    const std::uint8_t* p = take(n);
    Object* o = make(kind);
    o->text.assign(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
    return o;
  }
  Object* opaque(const char* name) {
    Object* o = make(Object::Kind::Opaque);
    o->text = name;
    return o;
  }
  Object* make_int(std::int64_t v) {
    Object* o = make(Object::Kind::Int);
    o->integer = v;
    return o;
  }

  void push(Object* o) {
    if (stack_.size() >= max_values_) error("the stack holds more than ", max_values_, " values");
    stack_.push_back(o);
  }
  Object* pop() {
    if (stack_.size() <= mark_floor()) error("stack underflow");
    Object* o = stack_.back();
    stack_.pop_back();
    return o;
  }
  Object* top() {
    if (stack_.size() <= mark_floor()) error("stack underflow");
    return stack_.back();
  }
  std::size_t mark_floor() const { return marks_.empty() ? 0 : marks_.back(); }
  // Pops everything above the innermost MARK, and the mark.
  std::vector<Object*> pop_mark() {
    if (marks_.empty()) error("no MARK on the stack");
    const std::size_t m = marks_.back();
    marks_.pop_back();
    std::vector<Object*> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return items;
  }

  void memo_put(std::uint64_t index) {
    Object* o = top();
    if (memo_.size() >= max_values_ && memo_.find(index) == memo_.end())
      error("the memo holds more than ", max_values_, " values (the limit for a ", size_, "-byte pickle)");
    memo_[index] = o;
  }
  Object* memo_get(std::uint64_t index) {
    const auto it = memo_.find(index);
    if (it == memo_.end()) error("memo index ", index, " was never stored");
    return it->second;
  }

  Object* tuple(std::vector<Object*> items) {
    Object* o = make(Object::Kind::Tuple);
    if (!items.empty()) children(o).items = std::move(items);
    return o;
  }

  Object* global(const std::string& module, const std::string& name) {
    // Protocol 2 writes Python 2 module names (pickle's fix_imports); map them back.
    const std::string py3 = module == "__builtin__" ? "builtins" : module == "copy_reg" ? "copyreg" : module;
    const std::string dotted = py3 + "." + name;
    const Allowed* a = find_allowed(dotted);
    if (a == nullptr)
      fail("[ckpt] ", context_, ": refusing the pickle global '", dotted,
           "' (only tensors, storages and plain data are allowed; nothing in the file is executed)");
    Object* o = make(Object::Kind::Global);
    o->text = dotted;
    return o;
  }

  std::int64_t int_arg(const Object* o, const char* what) {
    if (o->kind != Object::Kind::Int) error(what, " must be an integer");
    return o->integer;
  }
  Shape int_tuple(const Object* o, const char* what) {
    if (o->kind != Object::Kind::Tuple) error(what, " must be a tuple");
    Shape s;
    for (const Object* i : o->items()) s.push_back(int_arg(i, what));
    return s;
  }

  Object* call(Object* callable, Object* args, bool newobj) {
    if (callable->kind != Object::Kind::Global) error("call of a value that is not an allowed global");
    if (args->kind != Object::Kind::Tuple) error("arguments of ", callable->text, " are not a tuple");
    const Allowed* a = find_allowed(callable->text);
    const auto& v = args->items();
    switch (a->role) {
      case Role::OrderedDict: {
        Object* d = make(Object::Kind::Dict);
        if (!v.empty() && v[0]->kind == Object::Kind::List) {
          charge_copy(v[0]->items().size());
          std::vector<Object*> kv;
          for (const Object* pair : v[0]->items()) {
            if (pair->kind != Object::Kind::Tuple || pair->items().size() != 2) error("OrderedDict item is not a pair");
            kv.push_back(pair->items()[0]);
            kv.push_back(pair->items()[1]);
          }
          set_items(d, kv);
        }
        return d;
      }
      case Role::RebuildTensor: {
        if (newobj || v.size() < 4) error(callable->text, " needs (storage, offset, size, stride, ...)");
        if (v[0]->kind != Object::Kind::Storage) error(callable->text, ": first argument is not a storage");
        auto ref = std::make_unique<TensorRef>();
        ref->storage = v[0]->storage();
        ref->offset = int_arg(v[1], "storage offset");
        ref->shape = int_tuple(v[2], "tensor size");
        ref->strides = int_tuple(v[3], "tensor stride");
        if (ref->shape.size() != ref->strides.size())
          error("tensor size ", shape_str(ref->shape), " and stride ", shape_str(ref->strides), " differ in rank");
        charge_copy(ref->storage.key.size() + ref->storage.location.size() + 2 * ref->shape.size());
        Object* t = make(Object::Kind::Tensor);
        t->ref = std::move(ref);
        return t;
      }
      case Role::RebuildParam:
        if (v.empty() || v[0]->kind != Object::Kind::Tensor) error(callable->text, ": first argument is not a tensor");
        return v[0];
      case Role::Size:
        if (v.empty()) return tuple({});
        if (v[0]->kind != Object::Kind::Tuple) error("torch.Size argument is not a tuple");
        charge_copy(v[0]->items().size());
        return tuple(v[0]->items());
      case Role::CodecsEncode: {
        if (v.empty() || v[0]->kind != Object::Kind::String) error("_codecs.encode needs a string");
        return latin1(v[0]->text);
      }
      case Role::StorageType: error("storage type ", callable->text, " called outside a persistent id");
      case Role::Opaque: break;
    }
    Object* o = make(Object::Kind::Opaque);
    o->text = callable->text;
    return o;
  }

  // UTF-8 text to the bytes whose code points it holds, as str.encode('latin1') does.
  Object* latin1(const std::string& s) {
    charge_copy(s.size());
    Object* o = make(Object::Kind::Bytes);
    for (std::size_t i = 0; i < s.size(); ++i) {
      const auto c = static_cast<unsigned char>(s[i]);
      if (c < 0x80) {
        o->text += static_cast<char>(c);
      } else if ((c & 0xe0) == 0xc0 && i + 1 < s.size()) {
        const unsigned cp = ((c & 0x1fu) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3fu);
        if (cp > 0xff) error("_codecs.encode: character outside latin-1");
        o->text += static_cast<char>(cp);
        ++i;
      } else {
        error("_codecs.encode: character outside latin-1");
      }
    }
    return o;
  }

  Object* persistent_load(Object* pid) {
    const auto& items = pid->items();
    if (pid->kind != Object::Kind::Tuple || items.size() != 5 || items[0]->kind != Object::Kind::String ||
        items[0]->text != "storage")
      error("persistent id is not ('storage', type, key, location, numel)");
    const Object* type = items[1];
    if (type->kind != Object::Kind::Global) error("persistent id storage type is not a global");
    const Allowed* a = find_allowed(type->text);
    if (a->role != Role::StorageType) error("persistent id names ", type->text, ", which is not a storage type");
    if (items[2]->kind != Object::Kind::String) error("persistent id storage key is not a string");
    if (items[3]->kind != Object::Kind::String) error("persistent id location is not a string");
    const std::int64_t numel = int_arg(items[4], "storage size");
    if (numel < 0) error("negative storage size ", numel);
    charge_copy(items[2]->text.size() + items[3]->text.size());
    Object* s = make(Object::Kind::Storage);
    s->ref = std::make_unique<TensorRef>();
    s->ref->storage.dtype = a->storage_dtype;
    s->ref->storage.key = items[2]->text;
    s->ref->storage.location = items[3]->text;
    s->ref->storage.numel = static_cast<std::uint64_t>(numel);
    return s;
  }

  void set_items(Object* target, const std::vector<Object*>& kv) {
    if (target->kind != Object::Kind::Dict && target->kind != Object::Kind::Opaque)
      error("SETITEM on a value that is not a dict");
    if (kv.size() % 2 != 0) error("SETITEMS with an odd number of values");
    if (kv.empty()) return;
    Children& c = children(target);
    for (std::size_t i = 0; i < kv.size(); i += 2) {
      if (kv[i]->kind == Object::Kind::String) {
        if (c.index == nullptr) c.index = std::make_unique<std::unordered_map<std::string_view, std::size_t>>();
        const auto [it, added] = c.index->try_emplace(kv[i]->text, c.entries.size());
        if (!added) {
          c.entries[it->second].second = kv[i + 1];
          continue;
        }
      }
      c.entries.emplace_back(kv[i], kv[i + 1]);
    }
  }

  void append_items(Object* target, const std::vector<Object*>& items) {
    if (target->kind != Object::Kind::List && target->kind != Object::Kind::Opaque)
      error("APPEND on a value that is not a list");
    if (items.empty()) return;
    std::vector<Object*>& to = children(target).items;
    to.insert(to.end(), items.begin(), items.end());
  }

  void step(std::uint8_t op) {
    switch (op) {
      case 0x80: byte(); break;  // PROTO
      case 0x95: le(8); break;   // FRAME: framing is only a read-ahead hint
      case '(':                  // MARK
        if (marks_.size() >= max_values_) error("more than ", max_values_, " open MARKs");
        marks_.push_back(stack_.size());
        break;
      case '}': push(make(Object::Kind::Dict)); break;
      case ']': push(make(Object::Kind::List)); break;
      case ')': push(make(Object::Kind::Tuple)); break;
      case 0x8f: push(opaque("builtins.set")); break;  // EMPTY_SET
      case 'N': push(make(Object::Kind::None)); break;
      case 0x88:
      case 0x89: {  // NEWTRUE, NEWFALSE
        Object* o = make(Object::Kind::Bool);
        o->boolean = op == 0x88;
        push(o);
        break;
      }
      case 'J': push(make_int(static_cast<std::int32_t>(le(4)))); break;  // BININT
      case 'K': push(make_int(static_cast<std::int64_t>(le(1)))); break;  // BININT1
      case 'M': push(make_int(static_cast<std::int64_t>(le(2)))); break;  // BININT2
      case 0x8a:
      case 0x8b: {  // LONG1, LONG4: little-endian two's complement
        const std::uint64_t n = op == 0x8a ? le(1) : le(4);
        const std::uint8_t* p = take(n);
        if (n > 8) {  // beyond int64: only metadata could hold it
          push(opaque("builtins.int"));
          break;
        }
        std::uint64_t v = 0;
        for (std::uint64_t i = n; i-- > 0;) v = (v << 8) | p[i];
        if (n > 0 && n < 8 && (p[n - 1] & 0x80)) v |= ~std::uint64_t{0} << (8 * n);
        push(make_int(static_cast<std::int64_t>(v)));
        break;
      }
      case 'G': {  // BINFLOAT, big-endian
        const std::uint8_t* p = take(8);
        std::uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | p[i];
        Object* o = make(Object::Kind::Float);
        std::memcpy(&o->real, &bits, 8);
        push(o);
        break;
      }
      case 'X': push(make_string(Object::Kind::String, le(4))); break;   // BINUNICODE
      case 0x8c: push(make_string(Object::Kind::String, le(1))); break;  // SHORT_BINUNICODE
      case 0x8d: push(make_string(Object::Kind::String, le(8))); break;  // BINUNICODE8
      case 'T': push(make_string(Object::Kind::String, le(4))); break;   // BINSTRING
      case 'U': push(make_string(Object::Kind::String, le(1))); break;   // SHORT_BINSTRING
      case 'B': push(make_string(Object::Kind::Bytes, le(4))); break;    // BINBYTES
      case 'C': push(make_string(Object::Kind::Bytes, le(1))); break;    // SHORT_BINBYTES
      case 0x8e: push(make_string(Object::Kind::Bytes, le(8))); break;   // BINBYTES8
      case 0x96: push(make_string(Object::Kind::Bytes, le(8))); break;   // BYTEARRAY8
      case 'q': memo_put(le(1)); break;                                  // BINPUT
      case 'r': memo_put(le(4)); break;                                  // LONG_BINPUT
      case 0x94: memo_put(memo_.size()); break;                          // MEMOIZE
      case 'h': push(memo_get(le(1))); break;                            // BINGET
      case 'j': push(memo_get(le(4))); break;                            // LONG_BINGET
      case '0': pop(); break;                                            // POP
      case '1': pop_mark(); break;                                       // POP_MARK
      case '2': push(top()); break;                                      // DUP
      case 't': push(tuple(pop_mark())); break;                          // TUPLE
      case 0x85: {
        Object* a = pop();
        push(tuple({a}));
        break;
      }
      case 0x86: {
        Object* b = pop();
        Object* a = pop();
        push(tuple({a, b}));
        break;
      }
      case 0x87: {
        Object* c = pop();
        Object* b = pop();
        Object* a = pop();
        push(tuple({a, b, c}));
        break;
      }
      case 'l': {  // LIST
        auto items = pop_mark();
        Object* o = make(Object::Kind::List);
        append_items(o, items);
        push(o);
        break;
      }
      case 'd': {  // DICT
        auto kv = pop_mark();
        Object* o = make(Object::Kind::Dict);
        set_items(o, kv);
        push(o);
        break;
      }
      case 's': {  // SETITEM
        Object* v = pop();
        Object* k = pop();
        set_items(top(), {k, v});
        break;
      }
      case 'u': {  // SETITEMS
        auto kv = pop_mark();
        set_items(top(), kv);
        break;
      }
      case 'a': {  // APPEND
        Object* v = pop();
        append_items(top(), {v});
        break;
      }
      case 'e': {  // APPENDS
        auto items = pop_mark();
        append_items(top(), items);
        break;
      }
      case 0x90: {  // ADDITEMS (sets are opaque)
        auto items = pop_mark();
        append_items(top(), items);
        break;
      }
      case 0x91: {  // FROZENSET
        auto items = pop_mark();
        Object* o = opaque("builtins.frozenset");
        append_items(o, items);
        push(o);
        break;
      }
      case 'c': {  // GLOBAL
        std::string module = line();
        std::string name = line();
        push(global(module, name));
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        Object* name = pop();
        Object* module = pop();
        if (name->kind != Object::Kind::String || module->kind != Object::Kind::String)
          error("STACK_GLOBAL needs two strings");
        push(global(module->text, name->text));
        break;
      }
      case 'R': {  // REDUCE
        Object* args = pop();
        Object* callable = pop();
        push(call(callable, args, false));
        break;
      }
      case 0x81: {  // NEWOBJ
        Object* args = pop();
        Object* cls = pop();
        push(call(cls, args, true));
        break;
      }
      case 0x92: {  // NEWOBJ_EX
        pop();      // kwargs
        Object* args = pop();
        Object* cls = pop();
        push(call(cls, args, true));
        break;
      }
      case 'b': {  // BUILD: object state (OrderedDict._metadata, numpy arrays, ...) is not needed
        pop();
        top();
        break;
      }
      case 'Q': {  // BINPERSID
        Object* pid = pop();
        push(persistent_load(pid));
        break;
      }
      default: error("unsupported pickle opcode 0x", hex(op));
    }
  }

  static std::string hex(std::uint8_t v) {
    const char* digits = "0123456789abcdef";
    return std::string{digits[v >> 4], digits[v & 15]};
  }

  const std::uint8_t* data_;
  std::size_t size_;
  const std::string& context_;
  std::deque<Object>& pool_;
  std::size_t pos_ = 0;
  std::size_t op_pos_ = 0;
  std::vector<Object*> stack_;
  std::vector<std::size_t> marks_;
  std::unordered_map<std::uint64_t, Object*> memo_;
  std::vector<Object*> free_;  // cleared slots of pool_, reused before the pool grows
  std::size_t in_use_ = 0;     // slots handed out and not yet collected
  std::size_t next_collection_ = kMinCollectionSpacing;
  std::size_t copied_ = 0;
  const std::size_t max_values_;
};

const std::vector<Object*> kNoItems;
const std::vector<std::pair<Object*, Object*>> kNoEntries;

}  // namespace

const std::vector<Object*>& Object::items() const { return children != nullptr ? children->items : kNoItems; }

const std::vector<std::pair<Object*, Object*>>& Object::entries() const {
  return children != nullptr ? children->entries : kNoEntries;
}

const Object* Object::find(std::string_view key) const {
  if (kind != Kind::Dict || children == nullptr || children->index == nullptr) return nullptr;
  const auto it = children->index->find(key);
  return it != children->index->end() ? children->entries[it->second].second : nullptr;
}

const TensorRef& Object::tensor() const {
  WMA_CHECK(kind == Kind::Tensor, "[ckpt] pickle value is not a tensor");
  return *ref;
}

const StorageRef& Object::storage() const {
  WMA_CHECK(kind == Kind::Storage, "[ckpt] pickle value is not a storage");
  return ref->storage;
}

std::size_t max_pickle_values(std::size_t size) { return (std::size_t{1} << 20) + size / 4; }

Document unpickle(const std::uint8_t* data, std::size_t size, const std::string& context) {
  Document doc;
  Machine m(data, size, context, doc.pool_);
  doc.root_ = m.run();
  return doc;
}

}  // namespace wma::io::pickle
