package import HearthCore

/// A node's tunnel closed (or was closed for missing heartbeats) while streams were open on it.
package struct NodeLostError: Error, CustomStringConvertible {
    package var nodeID: NodeID
    package var reason: String
    package var description: String { "node \(nodeID) lost: \(reason)" }
}
