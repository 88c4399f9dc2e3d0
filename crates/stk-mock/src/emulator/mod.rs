//! Loopback HTTP emulators of the providers' wire APIs (work in progress).
