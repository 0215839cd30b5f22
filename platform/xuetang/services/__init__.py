"""Services: one module per thing the platform does. They read the models, ask the rules, write in
one transaction, and raise services.refusals.Refused (or an area's subclass) to say no."""
