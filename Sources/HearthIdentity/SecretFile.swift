public import Foundation

/// Files that hold keys: created with mode 0600 before any byte is written, replaced atomically, and
/// overwritten before deletion (zeroization, as far as a file system allows).
public enum SecretFile {
    public static func write(_ text: String, to path: String, mode: mode_t = 0o600) throws {
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, mode)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
        fsync(fd)
        close(fd)
        guard written == bytes.count, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw POSIXError(.EIO)
        }
    }

    /// Overwrites the file with zeros, syncs, then removes it. Missing files are fine.
    public static func zeroize(_ path: String) {
        let fd = open(path, O_WRONLY)
        if fd >= 0 {
            var size = lseek(fd, 0, SEEK_END)
            lseek(fd, 0, SEEK_SET)
            let zeros = [UInt8](repeating: 0, count: 4096)
            while size > 0 {
                let n = zeros.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, min(Int(size), $0.count)) }
                if n <= 0 { break }
                size -= off_t(n)
            }
            fsync(fd)
            close(fd)
        }
        unlink(path)
    }

    /// The file's permission bits (tests check 0600).
    public static func mode(of path: String) -> mode_t? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return info.st_mode & 0o777
    }
}
