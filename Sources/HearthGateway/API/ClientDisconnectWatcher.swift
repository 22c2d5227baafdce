import NIOCore
import Synchronization

/// Tells in-flight requests when their client's connection closes.
///
/// One close callback per connection, not per request: a keep-alive connection serves many
/// requests, and NIO futures cannot drop a callback once added.
final class ClientDisconnectWatcher: Sendable {
    struct Token: Sendable {
        fileprivate var connection: ObjectIdentifier
        fileprivate var id: UInt64
    }

    private struct State {
        var watches: [ObjectIdentifier: [UInt64: @Sendable () -> Void]] = [:]
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    /// Calls `onClose` if `channel` closes before ``unwatch(_:)``.
    func watch(_ channel: any Channel, onClose: @escaping @Sendable () -> Void) -> Token {
        let connection = ObjectIdentifier(channel)
        let (token, isNewConnection) = state.withLock { state in
            state.nextID &+= 1
            let isNew = state.watches[connection] == nil
            state.watches[connection, default: [:]][state.nextID] = onClose
            return (Token(connection: connection, id: state.nextID), isNew)
        }
        if isNewConnection {
            channel.closeFuture.whenComplete { [self] _ in
                let callbacks = state.withLock { $0.watches.removeValue(forKey: connection) } ?? [:]
                for callback in callbacks.values { callback() }
            }
        }
        return token
    }

    func unwatch(_ token: Token) {
        state.withLock { state in
            _ = state.watches[token.connection]?.removeValue(forKey: token.id)
        }
    }
}
