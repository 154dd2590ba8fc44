// A Node program that keeps buffers (Buffer.alloc above the pool size is allocated natively,
// by node::NodeArrayBufferAllocator::Allocate) and exits with process.exit, which does not
// tear the heap down: the buffers are still allocated at exit. The table of what it keeps
// goes to stderr: "FUNCTION BYTES BLOCKS".
const kept = [];
for (let i = 0; i < 200; i++) kept.push(Buffer.alloc(20000));
let sum = 0;
for (const b of kept) sum += b[0] + b.length;
console.log("node leaker:", kept.length, "buffers,", sum, "bytes");
console.error("node::NodeArrayBufferAllocator::Allocate(unsigned long) " + 200 * 20000 + " 200");
process.exit(0);
