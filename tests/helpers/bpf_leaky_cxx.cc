// Test helper for attach --uprobes on C++ allocations: each request builds short-lived
// vectors and, in "leak" mode, keeps one Session made with operator new in
// remember_session() forever.  bpf_leaky_cxx leak|fixed SECONDS
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

struct Session {
    char payload[4000];
};

static std::vector<Session *> sessions;

__attribute__((noinline)) static void remember_session(int request)
{
    Session *s = new Session;
    std::memset(s->payload, request & 0xff, sizeof(s->payload));
    sessions.push_back(s);
}

__attribute__((noinline)) static void forget_sessions()
{
    for (Session *s : sessions)
        delete s;
    sessions.clear();
}

__attribute__((noinline)) static void handle_request(int request, bool leak)
{
    std::vector<std::unique_ptr<std::string>> parts;
    for (int i = 0; i < 8; i++)
        parts.push_back(std::make_unique<std::string>(100 + (request * 7 + i * 131) % 2000, 'x'));
    remember_session(request);
    if (!leak && request % 16 == 15)
        forget_sessions();
}

int main(int argc, char **argv)
{
    if (argc != 3 || (std::strcmp(argv[1], "leak") && std::strcmp(argv[1], "fixed"))) {
        std::fprintf(stderr, "usage: bpf_leaky_cxx leak|fixed SECONDS\n");
        return 2;
    }
    bool leak = !std::strcmp(argv[1], "leak");
    auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(std::atof(argv[2]));
    sessions.reserve(1 << 20);
    std::printf("running\n");
    std::fflush(stdout);
    for (int request = 0; std::chrono::steady_clock::now() < end; request++) {
        handle_request(request, leak);
        if (request % 4 == 3)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    forget_sessions();
    return 0;
}
