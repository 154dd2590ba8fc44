// C++ allocations that stay live at exit, one function per way of allocating: new, new[]
// (with the array cookie a type with a destructor gets), aligned new, and two containers
// (a std::map's nodes, a std::vector's buffer after it grew), after churn that is all freed.
// The table of what stays goes to stderr, "FUNCTION BYTES BLOCKS" per line: FUNCTION as
// allocscope names it (demangled), BYTES the requested bytes of BLOCKS blocks of
// BYTES/BLOCKS bytes each allocated in FUNCTION. Sizes come from sizeof, so the table
// holds on any ABI; stderr is unbuffered (stdout's buffer would be one more block).
//   cxx_leaks [CHURN_ROUNDS]
#include <cstdio>
#include <cstdlib>
#include <map>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

#define NOINLINE __attribute__((noinline))

namespace app
{

struct Message {
    char text[480];
};

struct Tracked { // a destructor: new[] stores the element count before the elements
    char data[64];
    ~Tracked()
    {
        data[0] = 0;
    }
};

struct alignas(256) Page { // over-aligned: operator new(size_t, std::align_val_t)
    char bytes[1024];
};

struct Entry {
    int id;
    char name[92];
};

struct Record {
    long stamp;
    char body[40];
};

// Where the pointers go: kept, so nothing here is freed.
static std::vector<void *> *kept;

NOINLINE void keep_new(int count)
{
    for (int i = 0; i < count; i++)
        kept->push_back(new Message());
}

NOINLINE void keep_new_array(int count)
{
    for (int i = 0; i < count; i++)
        kept->push_back(new Tracked[10]);
}

NOINLINE void keep_aligned_new(int count)
{
    for (int i = 0; i < count; i++)
        kept->push_back(new Page());
}

class Index
{
  public:
    NOINLINE void add(int id)
    {
        Entry &e = entries_[id];
        e.id = id;
    }
    size_t size() const
    {
        return entries_.size();
    }

  private:
    std::map<int, Entry> entries_;
};

class Journal
{
  public:
    NOINLINE void append(long stamp)
    {
        records_.push_back(Record{stamp, {0}});
    }
    size_t capacity() const
    {
        return records_.capacity();
    }

  private:
    std::vector<Record> records_;
};

// Allocations that are all freed: strings, a hash map, vectors.
NOINLINE void churn(int rounds)
{
    for (int r = 0; r < rounds; r++) {
        std::unordered_map<std::string, std::vector<int>> scratch;
        for (int i = 0; i < 50; i++)
            scratch["key-number-" + std::to_string(i)].resize((size_t)(i % 7) + 1);
    }
}

} // namespace app

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 2000;
    app::kept = new std::vector<void *>();
    app::kept->reserve(200);
    app::churn(rounds);
    app::keep_new(30);
    app::keep_new_array(20);
    app::keep_aligned_new(16);
    auto *index = new app::Index();
    for (int id = 0; id < 150; id++)
        index->add(id);
    auto *journal = new app::Journal();
    for (long stamp = 0; stamp < 1000; stamp++)
        journal->append(stamp);
    app::churn(rounds / 10);
    printf("cxx leaks: %zu pointers, %zu entries\n", app::kept->size(), index->size());
    size_t node = sizeof(std::_Rb_tree_node<std::map<int, app::Entry>::value_type>);
    fprintf(stderr, "app::keep_new(int) %zu 30\n", 30 * sizeof(app::Message));
    fprintf(stderr, "app::keep_new_array(int) %zu 20\n",
            20 * (10 * sizeof(app::Tracked) + sizeof(size_t)));
    fprintf(stderr, "app::keep_aligned_new(int) %zu 16\n", 16 * sizeof(app::Page));
    fprintf(stderr, "app::Index::add(int) %zu 150\n", 150 * node);
    fprintf(stderr, "app::Journal::append(long) %zu 1\n",
            journal->capacity() * sizeof(app::Record));
    return 0;
}
