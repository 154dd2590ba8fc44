// A Node program that keeps buffers (Buffer.alloc above the pool size is malloc'd natively).
const kept = [];
for (let i = 0; i < 200; i++) kept.push(Buffer.alloc(16384 + i));
console.log("node leaker:", kept.length, "buffers");
