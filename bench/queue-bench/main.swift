// Queue benchmark (bench/queue runs it): no-op throughput and enqueue→start latency.
// Not a test: numbers go to docs/benchmarks.md.
import DjinnQueue
import DjinnRedis
import Foundation
import Logging
import Synchronization

struct Options {
    var redis = "127.0.0.1:6379"
    var jobs = 200_000
    var concurrency = 256
    var rate = 1_000
    var seconds = 10
}

var options = Options()
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let flag = arguments.next() {
    guard let value = arguments.next() else { fatalError("\(flag) needs a value") }
    switch flag {
    case "-redis": options.redis = value
    case "-jobs": options.jobs = Int(value)!
    case "-concurrency": options.concurrency = Int(value)!
    case "-rate": options.rate = Int(value)!
    case "-seconds": options.seconds = Int(value)!
    default: fatalError("unknown flag \(flag)")
    }
}

var logger = Logger(label: "bench")
logger.logLevel = .warning
let configuration = try RedisConfiguration(addr: options.redis)
let client = RedisClient(configuration: configuration, logger: logger, maximumConnections: 8)

func nanos() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
func seconds(_ from: UInt64, _ to: UInt64) -> Double { Double(to - from) / 1e9 }

// 1. Throughput: enqueue N no-op jobs in batches, then drain them with one consumer.
let queue = "bench_\(UUID().uuidString.prefix(8))"
let producer = QueueProducer(client: client, queue: queue)
let enqueueStart = nanos()
var batch: [EnqueueRequest] = []
for _ in 0..<options.jobs {
    batch.append(EnqueueRequest(data: []))
    if batch.count == 1000 { _ = try await producer.enqueueBatch(batch); batch.removeAll(keepingCapacity: true) }
}
if !batch.isEmpty { _ = try await producer.enqueueBatch(batch) }
let enqueueSeconds = seconds(enqueueStart, nanos())

let handled = Atomic<Int>(0)
let total = options.jobs
let drained = AsyncStream<Void>.makeStream()
var queueOptions = QueueOptions(concurrency: options.concurrency)
queueOptions.maxAttempts = 1
let consumer = QueueConsumer(client: client, queue: queue, options: queueOptions, logger: logger) { _ in
    if handled.add(1, ordering: .relaxed).newValue == total { drained.continuation.finish() }
}
let drainStart = nanos()
let running = Task { try await consumer.run() }
for await _ in drained.stream {}
let drainSeconds = seconds(drainStart, nanos())
consumer.shutdown()
try await running.value

// 2. Latency at a steady rate: each job carries its enqueue time.
let latencyQueue = "bench_lat_\(UUID().uuidString.prefix(8))"
let latencies = Mutex<[UInt64]>([])
let expected = options.rate * options.seconds
let done = AsyncStream<Void>.makeStream()
let latencyConsumer = QueueConsumer(client: client, queue: latencyQueue, options: queueOptions, logger: logger) { job in
    let sent = job.data.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
    let count = latencies.withLock { $0.append(nanos() - sent); return $0.count }
    if count == expected { done.continuation.finish() }
}
let latencyRun = Task { try await latencyConsumer.run() }
try await Task.sleep(for: .milliseconds(500))  // registered and polling
let latencyProducer = QueueProducer(client: client, queue: latencyQueue)
let interval = 1_000_000_000 / UInt64(options.rate)
let paceStart = nanos()
for n in 0..<expected {
    let due = paceStart + UInt64(n) * interval
    let now = nanos()
    if due > now { try await Task.sleep(nanoseconds: due - now) }
    var stamp = nanos()
    _ = try await latencyProducer.enqueue(withUnsafeBytes(of: &stamp) { Array($0) })
}
for await _ in done.stream {}
latencyConsumer.shutdown()
try await latencyRun.value
await client.close()

let sorted = latencies.withLock { $0.sorted() }
func percentile(_ p: Double) -> Double {
    Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]) / 1e6
}
print(String(format: "enqueue_jobs_per_s %.0f", Double(options.jobs) / enqueueSeconds))
print(String(format: "drain_jobs_per_s %.0f", Double(options.jobs) / drainSeconds))
print(String(format: "latency_p50_ms %.3f", percentile(0.50)))
print(String(format: "latency_p99_ms %.3f", percentile(0.99)))
print(String(format: "latency_max_ms %.3f", Double(sorted.last ?? 0) / 1e6))
print("jobs \(options.jobs) concurrency \(options.concurrency) rate \(options.rate) seconds \(options.seconds)")
