/// Lamping and Veach's jump consistent hash ("A Fast, Minimal Memory, Consistent Hash Algorithm", 2014):
/// maps `key` to a bucket in `0..<buckets`, moving only 1/n of keys when a bucket is added at the end.
@inlinable
public func jumpConsistentHash(_ key: UInt64, buckets: Int) -> Int {
    precondition(buckets > 0)
    var key = key
    var bucket: Int64 = -1
    var next: Int64 = 0
    while next < Int64(buckets) {
        bucket = next
        key = key &* 2_862_933_555_777_941_757 &+ 1
        next = Int64(Double(bucket + 1) * (Double(1 << 31) / Double((key >> 33) + 1)))
    }
    return Int(bucket)
}
