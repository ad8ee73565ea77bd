//! Machines (boards) as data.
