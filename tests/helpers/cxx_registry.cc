// C++ names and inlined frames: srv::Registry::add(int) leaks 10 Entry objects (7000 bytes)
// with operator new, and one vector<int> buffer of 1000 ints (4000 bytes) through
// std::vector::reserve, whose allocation libstdc++ inlines into add. The report must name
// srv::Registry::add(int), and show the inlined std::__new_allocator frame as such.
#include <cstdio>
#include <vector>

namespace srv {
struct Entry {
    char payload[700];
};

struct Registry {
    std::vector<Entry *> entries;
    std::vector<int> *ids = nullptr;
    void add(int n);
};

__attribute__((noinline)) void Registry::add(int n)
{
    ids = new std::vector<int>();
    ids->reserve(1000); // LINE_RESERVE
    entries.reserve(16);
    for (int i = 0; i < n; i++)
        entries.push_back(new Entry); // LINE_NEW_ENTRY
}
} // namespace srv

srv::Registry *registry_keeps_everything;

int main()
{
    registry_keeps_everything = new srv::Registry;
    registry_keeps_everything->add(10);
    std::printf("cxx registry: %zu entries\n", registry_keeps_everything->entries.size());
    return 0;
}
