public import ArgumentParser
import HearthCore

extension SchedulingPolicyKind: ExpressibleByArgument {}
