extension Duration {
    /// This duration in seconds: the unit the scheduler, the performance model and the simulator count in.
    package var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }

    package var milliseconds: Double { seconds * 1000 }
}
