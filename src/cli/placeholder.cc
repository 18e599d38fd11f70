namespace cutover {}
